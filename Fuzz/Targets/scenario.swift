import LifeboatCore

/// `lifeboat simulate FILE`: any text is a scenario or a ScenarioError; a small scenario
/// that parses is replayed through the real core, and its output is written.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzScenario(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let scenario = try? Scenario.parse(text) else { return 0 }
    // Bounded replays: the fuzzer looks for crashes, not for long simulations.
    guard scenario.events.count <= 24, scenario.hosts.count <= 12, scenario.instances.count <= 24,
        scenario.events.allSatisfy({ $0.at < 100_000 }), scenario.durations.values.allSatisfy({ $0 < 10_000 })
    else { return 0 }
    let result = Simulator.run(scenario)
    _ = SimulationOutput.jsonLines(result)
    _ = SimulationOutput.text(result)
    return 0
}
