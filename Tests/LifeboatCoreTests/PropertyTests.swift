import LifeboatCore
import PropertyBased
import Testing

/// Random clusters and random failure sequences: every invariant must hold on every run.
@Suite struct PropertyTests {
    /// A random scenario: 1–3 segments of 2–7 hosts, random methods, reserves, maintenance,
    /// instances, policies, faults, durations and a random sequence of inputs.
    /// With `drains`, some hosts are also taken into maintenance and drained (random draws
    /// made after all the others, so that a seed's scenario without drains never changes).
    static func randomScenario(seed: UInt64, drains: Bool = false) -> Scenario {
        var rng = SplitMix64(seed: seed)
        func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &rng) }
        func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }
        var segments: [Segment] = []
        var hosts: [Host] = []
        for s in 0..<int(1...3) {
            let seg = Segment(name: "s\(s)", recoveryMethod: RecoveryMethod.allCases.randomElement(using: &rng)!,
                              enabled: !chance(0.1))
            segments.append(seg)
            for _ in 0..<int(2...7) {
                let n = hosts.count + 1
                hosts.append(Host(name: "h\(n)", segment: seg.name, nodeID: UInt32(n), reserved: chance(0.25),
                                  maintenance: chance(0.1),
                                  capacity: Capacity(vcpus: int(4...16), ramMB: int(4...32) * 1024, diskGB: int(50...400))))
            }
        }
        var used = [String: Capacity]()
        var instances: [Instance] = []
        for n in 0..<int(0...(hosts.count * 3)) {
            let h = hosts.randomElement(using: &rng)!
            let flavor = ClusterGenerator.flavors.randomElement(using: &rng)!
            let total = (used[h.name] ?? .zero) + flavor
            guard h.capacity.holds(total) else { continue }
            used[h.name] = total
            instances.append(Instance(id: "vm\(n)", host: h.name, ha: chance(0.8), priority: int(0...3), flavor: flavor))
        }
        var policy = Policy()
        policy.processRestartLimit = int(0...3)
        policy.instanceRestartLimit = int(0...3)
        policy.maxConcurrentHostRecoveries = int(1...3)
        policy.fenceAttemptLimit = int(1...3)
        policy.flapLimit = int(1...3)
        policy.stormThreshold = [0.34, 0.5, 0.75, 1.0].randomElement(using: &rng)!
        policy.stormWindow = Double(int(0...60))
        policy.readmitReserve = ReadmitReserve.allCases.randomElement(using: &rng)!
        policy.failureTimeout = [0, 30, 3600].randomElement(using: &rng)!
        var faults = Faults()
        let modes = FaultMode.allCases
        for h in hosts {
            if chance(0.15) { faults.fence[h.name] = modes.randomElement(using: &rng)! }
            if chance(0.15) { faults.processRestart[h.name] = modes.randomElement(using: &rng)! }
            if chance(0.05) { faults.forceDown[h.name] = modes.randomElement(using: &rng)! }
            if chance(0.05) { faults.enableService[h.name] = modes.randomElement(using: &rng)! }
        }
        for i in instances {
            if chance(0.1) { faults.evacuate[i.id] = modes.randomElement(using: &rng)! }
            if chance(0.1) { faults.instanceRestart[i.id] = modes.randomElement(using: &rng)! }
        }
        var durations: [String: Double] = [:]
        if chance(0.5) {
            // The kinds before migrations existed: the same seed draws the same numbers.
            for kind in ["fence", "force_down", "disable_service", "enable_service", "restart_process", "restart_instance", "evacuate"] {
                durations[kind] = Double(int(0...4))
            }
        }
        var events: [TimedEvent] = []
        var t = 0.0
        for _ in 0..<int(1...25) {
            if chance(0.6) { t += Double(int(1...30)) }
            let h = hosts.randomElement(using: &rng)!.name
            let e: Event
            switch int(0...13) {
            case 0, 1, 2: e = .nodeLost(host: h)
            case 3, 4: e = .nodeJoined(host: h)
            case 5: e = .quorum(quorate: chance(0.6))
            case 6: e = .processFailed(host: h, process: "nova-compute")
            case 7:
                guard let i = instances.randomElement(using: &rng) else { continue }
                e = .instanceFailed(instance: i.id)
            case 8: e = .maintenance(host: h, on: chance(0.5))
            case 9: e = .fenceConfirmedByOperator(host: h)
            case 10: e = .segmentEnabled(segment: segments.randomElement(using: &rng)!.name, on: chance(0.7))
            case 11: e = .stormReset(segment: segments.randomElement(using: &rng)!.name)
            case 12: e = .leaderChanged(holder: TermHolder(node: 9, incarnation: 0))
            default: e = .reserved(host: h, on: chance(0.5))
            }
            events.append(TimedEvent(at: t, e))
        }
        if drains {
            durations["migrate"] = Double(int(0...4))
            policy.maxParallelMigrations = int(1...4)
            policy.drainToReserved = chance(0.5)
            for i in instances where chance(0.1) { faults.migrate[i.id] = modes.randomElement(using: &rng)! }
            for _ in 0..<int(1...3) {
                let h = hosts.randomElement(using: &rng)!.name
                let at = Double(int(0...Int(max(t, 1))))
                events.append(TimedEvent(at: at, .maintenance(host: h, on: true)))
                events.append(TimedEvent(at: at, .drain(host: h, on: true)))
                if chance(0.3) { events.append(TimedEvent(at: at + Double(int(1...20)), .maintenance(host: h, on: false))) }
            }
            events.sort { $0.at < $1.at }
        }
        return Scenario(segments: segments, hosts: hosts, instances: instances, policy: policy, faults: faults,
                        durations: durations, events: events)
    }

    /// What `used` must be, recomputed from the instances (the core keeps it incrementally).
    static func recomputedUse(_ s: ClusterState) -> [String: Capacity] {
        var used: [String: Capacity] = [:]
        for i in s.instances.values {
            used[i.host, default: .zero] += i.flavor
            if let to = i.evacuatingTo { used[to, default: .zero] += i.flavor }
        }
        return used
    }

    @Test func test_randomClustersAndFailures_everyInvariantHolds() async {
        await propertyCheck(count: 1500, input: Gen.int(in: 0...Int(Int32.max))) { seed in
            let scenario = Self.randomScenario(seed: UInt64(seed))
            let result = Simulator.run(scenario)
            #expect(result.violations.isEmpty, "seed \(seed): \(result.violations)")
            let recomputed = Self.recomputedUse(result.final)
            for h in result.final.hosts.values {
                #expect(h.used == recomputed[h.name] ?? .zero, "seed \(seed): \(h.name) books \(h.used), instances need \(recomputed[h.name] ?? .zero)")
            }
            for (host, ids) in result.final.instancesByHost {
                for id in ids { #expect(result.final.instances[id]?.host == host, "seed \(seed): index of \(host) lists \(id)") }
            }
            // No action but notices ever planned for a maintenance host in the final state.
            for a in Scheduler.plan(result.final) {
                if case .notify = a { continue }
                if let h = a.host { #expect(result.final.hosts[h]?.maintenance == false, "seed \(seed): \(a.key)") }
            }
        }
    }

    @Test func test_randomDrains_keepEveryInvariant_andEveryDrainEnds() async {
        await propertyCheck(count: 600, input: Gen.int(in: 0...Int(Int32.max))) { seed in
            let r = Simulator.run(Self.randomScenario(seed: UInt64(seed), drains: true))
            #expect(r.violations.isEmpty, "seed \(seed): \(r.violations)")
            for h in r.final.hosts.values {
                #expect(h.used == Self.recomputedUse(r.final)[h.name] ?? .zero, "seed \(seed): \(h.name) books \(h.used)")
            }
            // A drain of a running member with quorum ends: moved, or told why not.
            for h in r.final.hosts.values where h.member && r.final.quorate {
                guard let d = h.drain else { continue }
                #expect(d.finishedAt != nil || r.final.instances(on: h.name).contains { $0.state == .migrating } == false || !r.final.inFlight.isEmpty,
                        "seed \(seed): the drain of \(h.name) never ended")
            }
            #expect(r.final.instances.values.allSatisfy { $0.state != .migrating || r.final.inFlight["migrate:\($0.id)"] != nil || r.final.hosts[$0.host]?.drain != nil },
                    "seed \(seed): a migration was left half-done")
        }
    }

    @Test func test_randomScenario_replayIsDeterministic() async {
        await propertyCheck(count: 50, input: Gen.int(in: 0...Int(Int32.max))) { seed in
            let scenario = Self.randomScenario(seed: UInt64(seed))
            let a = Simulator.run(scenario)
            let b = Simulator.run(scenario)
            #expect(a.lines == b.lines)
            #expect(a.final == b.final)
        }
    }

    @Test func test_generatedBenchmarkCluster_isValidAndRecoversWithoutViolations() {
        var s = ClusterGenerator(hosts: 60, instances: 600, hostsPerSegment: 20).makeScenario(seed: 3)
        s.events = [TimedEvent(at: 0, .nodeLost(host: "host-0")), TimedEvent(at: 0, .nodeLost(host: "host-21"))]
        let r = Simulator.run(s)
        #expect(r.violations.isEmpty, "\(r.violations)")
        #expect(r.lines.contains { if case .action(_, .evacuate) = $0 { true } else { false } })
    }
}
