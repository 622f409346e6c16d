import Foundation
import LifeboatCore
import Testing

/// Replays every scenario shipped under Docs/scenarios and compares the output with the
/// reviewed `.expected.jsonl` next to it.
@Suite struct ShippedScenarioTests {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Docs/scenarios")

    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".json") }.sorted()
    }

    @Test func test_atLeastTenScenariosShip() {
        #expect(Self.files.count >= 10)
    }

    @Test(arguments: files)
    func test_shippedScenario_replaysToItsExpectedOutput_withNoViolation(_ name: String) throws {
        let text = try String(contentsOf: Self.directory.appendingPathComponent(name), encoding: .utf8)
        let scenario = try Scenario.parse(text)
        let result = Simulator.run(scenario)
        #expect(result.violations.isEmpty, "\(result.violations)")
        let expectedURL = Self.directory.appendingPathComponent(name.replacingOccurrences(".json", with: ".expected.jsonl"))
        let expected = try String(contentsOf: expectedURL, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(SimulationOutput.jsonLines(result) == expected)
    }
}
