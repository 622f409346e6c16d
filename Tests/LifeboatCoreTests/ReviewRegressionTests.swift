import LifeboatCore
import Testing

/// Cases found in review, each once a real bug: they must stay fixed.
@Suite struct ReviewRegressionTests {
    @Test func test_hostRejoinsMidEvacuation_noMoreEvacuationsFromIt_andOperatorTold() {
        let r = Lab.run(
            Lab.scenario(
                hosts: 3, reserved: 0, method: .auto,
                events: [(0, .nodeLost(host: "h1")), (5, .nodeJoined(host: "h1"))], durations: ["force_down": 10]))
        #expect(r.violations.isEmpty, "\(r.violations)")
        #expect(!Lab.actions(r).contains { $0.hasPrefix("evacuate") })
        #expect(Lab.actions(r).contains("notify evacuation_interrupted h1"))
        #expect(r.final.instances["vm1"]?.host == "h1")
        // Not moved, they died with h1's power-off: restarted there once it is re-admitted.
        let acts = Lab.actions(r)
        let enable = acts.firstIndex { $0.hasPrefix("enable_service h1") }
        for vm in ["vm1", "vm2"] {
            let restart = acts.firstIndex(of: "restart_instance \(vm)")
            #expect(enable != nil && restart != nil && restart! > enable!, "\(acts)")
            #expect(r.final.instances[vm]?.state == .active && r.final.instances[vm]?.gaveUpAt == nil)
        }
        #expect(!acts.contains("restart_instance vm3"), "not HA: not ours to start")
    }

    @Test func test_applyRefusesEvacuatingFromAHostThatIsAMemberAgain() throws {
        var s = Lab.scenario(events: []).initialState
        try s.apply(.nodeLost(host: "h1"), at: 0)
        try s.start(.fence(host: "h1"), at: 0)
        try s.finish("fence:h1", .off, at: 0)
        try s.apply(.nodeJoined(host: "h1"), at: 1)
        let before = s
        #expect(throws: EventRejected.self) {
            try s.start(.evacuate(instance: "vm1", from: "h1", to: "h4"), at: 1)
        }
        #expect(s == before)
    }

    @Test func test_configureCannotRemoveAnInstanceWithARestartInFlight() throws {
        var s = Lab.scenario(events: []).initialState
        try s.apply(.instanceFailed(instance: "vm1"), at: 0)
        try s.start(.restartInstance(instance: "vm1", host: "h1"), at: 0)
        var c = s.configuration
        c.instances.removeAll { $0.id == "vm1" }
        let before = s
        #expect(throws: EventRejected.self) { try s.apply(.configure(c), at: 1) }
        #expect(s == before)
        try s.finish("restart_instance:vm1", .ok, at: 2)
        try s.apply(.configure(c), at: 3)  // allowed once nothing is in flight
        #expect(s.instances["vm1"] == nil)
    }

    @Test func test_targetFailsWhileAnInstanceIsOnItsWay_instanceIsRecoveredAgain() {
        var s = Lab.scenario(
            hosts: 5, reserved: 0, method: .auto,
            events: [(0, .nodeLost(host: "h1")), (5, .nodeLost(host: "h2"))], durations: ["evacuate": 10])
        s.instances = [Instance(id: "vm1", host: "h1", ha: true, flavor: Lab.small)]
        s.policy.stormThreshold = 1
        s.hosts[1].capacity = Capacity(vcpus: 64, ramMB: 262144, diskGB: 2000)  // h2 is the roomiest target
        let r = Lab.run(s)
        #expect(r.violations.isEmpty, "\(r.violations)")
        #expect(Lab.actions(r).contains("evacuate vm1 h1>h2"))
        #expect(Lab.actions(r).contains { $0.hasPrefix("evacuate vm1 h2>") })
        #expect(r.final.instances["vm1"]?.host != "h2")
    }

    @Test func test_recoveryStoppedByMaintenance_doesNotHoldTheOnlySlot() {
        var s = Lab.scenario(
            hosts: 6, reserved: 0, method: .auto,
            events: [(0, .nodeLost(host: "h1")), (5, .maintenance(host: "h1", on: true)), (100, .nodeLost(host: "h4"))],
            durations: ["force_down": 10])
        s.segments.append(Segment(name: "t", recoveryMethod: .auto))
        for i in 3...5 { s.hosts[i].segment = "t" }
        s.policy.maxConcurrentHostRecoveries = 1
        let r = Lab.run(s)
        #expect(r.violations.isEmpty, "\(r.violations)")
        #expect(Lab.actions(r).contains("fence h4"))
    }

    @Test func test_stormGuard_countsDistinctHosts_oneFlappingHostIsNoStorm() {
        let r = Lab.run(
            Lab.scenario(
                hosts: 3, reserved: 0, method: .auto,
                events: [(0, .nodeLost(host: "h1")), (1, .nodeJoined(host: "h1")), (3, .nodeLost(host: "h1"))],
                durations: ["fence": 30]))
        #expect(!Lab.actions(r).contains("notify storm_halted s"))
    }

    @Test func test_escalationStuckOnFenceFailure_isCalledOffWhenTheProcessRecovers() {
        let r = Lab.run(
            Lab.scenario(
                policy: .with { $0.processRestartLimit = 0 },
                events: [(0, .processFailed(host: "h1", process: "nova-compute")),
                         (60, .processRecovered(host: "h1", process: "nova-compute"))],
                faults: .with(fence: ["h1": .fail])))
        #expect(r.violations.isEmpty, "\(r.violations)")
        #expect(Lab.actions(r).contains("notify fence_failed h1"))
        #expect(!Lab.actions(r).contains("disable_service h1"), "fenced first: it was never disabled")
        #expect(r.final.hosts["h1"]?.recovery == nil)
        #expect(r.final.hosts["h1"]?.service == .up)
    }

    @Test func test_haTagRemovedMidEvacuation_thenLeaderChange_evacuationStillFinishes() {
        let r = Lab.run(
            Lab.scenario(
                events: [(0, .nodeLost(host: "h1")), (5, .haTag(instance: "vm1", on: false)), (6, .leaderChanged(holder: TermHolder(node: 9, incarnation: 0)))],
                durations: ["evacuate": 30]))
        #expect(r.violations.isEmpty, "\(r.violations)")
        #expect(r.final.instances["vm1"]?.state == .active)
        #expect(r.final.instances["vm1"]?.host == "h4")
    }

    @Test func test_leaderChange_isNotCountedAsAFailedFenceAttempt() {
        let r = Lab.run(
            Lab.scenario(
                policy: .with { $0.fenceAttemptLimit = 2 },
                events: [(0, .nodeLost(host: "h1")), (1, .leaderChanged(holder: TermHolder(node: 9, incarnation: 0)))],
                faults: .with(fence: ["h1": .failOnce]), durations: ["fence": 5]))
        #expect(r.violations.isEmpty, "\(r.violations)")
        #expect(!Lab.actions(r).contains("notify fence_failed h1"))
        #expect(r.final.hosts["h1"]?.fence == .off)
    }

    @Test func test_failureTimeout_forgetsOldFailures_butNotRecentOnes() {
        let weekly: [(Double, Event)] = (0..<4).map { (Double($0) * 604_800, .processFailed(host: "h2", process: "nova-compute")) }
        let never = Lab.run(Lab.scenario(events: weekly))
        #expect(Lab.actions(never).contains("fence h2"))  // default: counts never expire
        let decaying = Lab.run(Lab.scenario(policy: .with { $0.failureTimeout = 86_400 }, events: weekly))
        #expect(Lab.actions(decaying).filter { $0 == "restart_process h2" }.count == 4)
        #expect(!Lab.actions(decaying).contains("fence h2"))
        let burst: [(Double, Event)] = (0..<4).map { (Double($0) * 60, .processFailed(host: "h2", process: "nova-compute")) }
        #expect(Lab.actions(Lab.run(Lab.scenario(policy: .with { $0.failureTimeout = 86_400 }, events: burst))).contains("fence h2"))
    }

    /// Disabling a dead nova-compute before it is forced down blocks ~60 s in nova-api, so
    /// an escalation fences at once, then forces down, then disables (as for a lost host).
    @Test func test_escalation_fencesFirst_thenForcesDown_thenDisables() {
        let r = Lab.run(
            Lab.scenario(
                policy: .with { $0.processRestartLimit = 0 },
                events: [(0, .processFailed(host: "h1", process: "nova-compute"))], durations: ["force_down": 1, "disable_service": 3]))
        let starts = r.lines.compactMap { line -> (Double, String)? in if case .action(let at, let a) = line { (at, a.kind) } else { nil } }
        #expect(starts.first { $0.1 == "fence" }?.0 == 0)
        #expect(starts.first { $0.1 == "disable_service" }?.0 == 1)
        #expect(starts.filter { $0.1 == "restart_process" }.count == 0, "restart limit 0: no restart in place")
    }

    @Test func test_leaderChangeAfterTheSourceRejoined_releasesTheEvacuationAndTells() {
        let r = Lab.run(
            Lab.scenario(
                events: [(0, .nodeLost(host: "h1")), (5, .nodeJoined(host: "h1")), (6, .leaderChanged(holder: TermHolder(node: 9, incarnation: 0)))],
                durations: ["evacuate": 30]))
        #expect(r.violations.isEmpty, "\(r.violations)")
        #expect(r.final.instances.values.allSatisfy { $0.state != .evacuating })
        #expect(Lab.actions(r).contains("notify evacuation_failed vm1"))
        #expect(r.final.hosts["h4"]?.used == .zero)
    }

    /// Found by `lab chaos --nova` (seed 5): Nova's scheduler refused every evacuation to a
    /// host re-enabled a moment before; once both targets had refused, every HA server was
    /// left in error for good although the hosts had room a minute later. Now an instance
    /// given up on is placed again after `evacuation_retry_interval` while its host stays
    /// down, on every target, and the operator is told once.
    @Test func test_anInstanceGivenUpOn_isPlacedAgainAfterTheRetryInterval_andTheOperatorToldOnce() {
        var p = Policy()
        p.evacuationAttemptLimit = 1
        func run(_ p: Policy, until end: Double) -> Simulator.Result {
            Lab.run(Lab.scenario(policy: p, events: [(0, .nodeLost(host: "h1")), (30, .clock), (end, .clock)],
                                 faults: Faults.with(evacuate: ["vm1": .failOnce])))
        }
        func evacuations(_ r: Simulator.Result) -> [String] { Lab.actions(r).filter { $0.hasPrefix("evacuate vm1") } }
        let early = run(p, until: 59)
        #expect(evacuations(early).count == 1, "\(Lab.actions(early))")
        #expect(early.final.instances["vm1"]?.state == .error)
        let r = run(p, until: 61)
        #expect(r.violations.isEmpty, "\(r.violations)")
        #expect(evacuations(r).count == 2, "\(Lab.actions(r))")
        #expect(Lab.actions(r).filter { $0 == "notify evacuation_failed vm1" }.count == 1, "\(Lab.actions(r))")
        #expect(r.final.instances["vm1"]?.state == .active && r.final.instances["vm1"]?.host != "h1")
        #expect(r.final.instances["vm1"]?.gaveUpAt == nil)
        p.evacuationRetryInterval = 0   // off: it waits for an operator
        let off = run(p, until: 600)
        #expect(evacuations(off).count == 1 && off.final.instances["vm1"]?.state == .error)
    }

    /// Found by `lab chaos --nova` (seed 1): an evacuation that Nova failed (no valid host)
    /// while its source came back was left as if nothing had happened: the instance counted
    /// as active on the source, no notice, while Nova had it in ERROR.
    @Test func test_anEvacuationThatFailsAfterItsSourceCameBack_isNotRetried_andTheOperatorIsTold() {
        let r = Lab.run(
            Lab.scenario(
                events: [(0, .nodeLost(host: "h1")), (5, .nodeJoined(host: "h1"))],
                faults: Faults.with(evacuate: ["vm1": .fail]), durations: ["evacuate": 30]))
        #expect(r.violations.isEmpty, "\(r.violations)")
        #expect(Lab.actions(r).filter { $0.hasPrefix("evacuate vm1") }.count == 1, "\(Lab.actions(r))")
        #expect(Lab.actions(r).contains("notify evacuation_failed vm1"), "\(Lab.actions(r))")
        // Left in error on its source; once h1 is back in the scheduler, it is restarted
        // there (see StrandedInstanceTests).
        #expect(Lab.actions(r).contains("restart_instance vm1"), "\(Lab.actions(r))")
        #expect(r.final.instances["vm1"]?.host == "h1" && r.final.instances["vm1"]?.state == .active)
        // vm1's booking on its target is released: each host holds what runs on it.
        for (name, h) in r.final.hosts where name != "h1" {
            var held = Capacity.zero
            for i in r.final.instances.values where i.host == name { held += i.flavor }
            #expect(h.used == held, "\(name)")
        }
    }
}

/// Seeds of the property test that found core bugs (each was about 1 in 30,000 random runs,
/// so a 1,500-seed run failed now and then). Fixed: an evacuation whose attempt a leader
/// change dropped, then (50280) its source rejoined in the same batch, or (139915) its
/// source rejoined and left again, was left booked with no notice; (51850, 130362, 150705)
/// was re-issued to a target that had gone into maintenance; (66041) a re-issue to a target
/// an operator marked reserved meanwhile left it counting as reserve.
@Suite struct PropertySeedRegressionTests {
    @Test(arguments: [50280, 51850, 66041, 130362, 139915, 150705])
    func test_seedThatBrokeAnInvariant_nowKeepsThemAll(_ seed: Int) {
        let r = Simulator.run(PropertyTests.randomScenario(seed: UInt64(seed)))
        #expect(r.violations.isEmpty, "seed \(seed): \(r.violations)")
    }
}

/// Chaos with a sick Nova (stop 23): HA servers given up on while their host was down
/// (no room for them, or Nova refused their evacuation) stayed in ERROR after the host came
/// back: only a notice. Now they are restarted in place once the host is re-admitted.
@Suite struct StrandedInstanceTests {
    /// h1 lost in a segment with no room left (h2 is smaller than any flavor): vm1 and vm2
    /// are given up on.
    static let tiny = Capacity(vcpus: 1, ramMB: 1024, diskGB: 10)

    static func noRoom(_ then: [(Double, Event)], restart: [String: FaultMode] = [:]) -> Simulator.Result {
        var p = Policy()
        p.evacuationRetryInterval = 0
        var s = Lab.scenario(
            hosts: 2, reserved: 0, capacity: Self.tiny, policy: p, events: [(0, .nodeLost(host: "h1"))] + then,
            faults: Faults.with(instanceRestart: restart))
        s.hosts[0].capacity = Lab.big
        return Lab.run(s)
    }

    @Test func test_instancesGivenUpOn_areRestartedInPlace_onceTheirHostIsReadmitted() {
        let down = Self.noRoom([(60, .clock)])
        #expect(down.final.instances["vm1"]?.state == .error && down.final.instances["vm1"]?.gaveUpAt != nil)
        #expect(!Lab.actions(down).contains { $0.hasPrefix("restart_instance") }, "\(Lab.actions(down))")
        let r = Self.noRoom([(60, .nodeJoined(host: "h1")), (120, .clock)])
        #expect(r.violations.isEmpty, "\(r.violations)")
        let acts = Lab.actions(r)
        let enable = acts.firstIndex { $0.hasPrefix("enable_service h1") }
        let restarts = acts.indices.filter { acts[$0].hasPrefix("restart_instance") }
        #expect(restarts.map { acts[$0] }.sorted() == ["restart_instance vm1", "restart_instance vm2"], "\(acts)")
        // Only once h1 is back in the scheduler.
        #expect(enable != nil && restarts.allSatisfy { $0 > enable! }, "\(acts)")
        for vm in ["vm1", "vm2"] {
            #expect(r.final.instances[vm]?.state == .active && r.final.instances[vm]?.host == "h1" && r.final.instances[vm]?.gaveUpAt == nil)
        }
        // The non-HA vm3 stays stopped: not ours to start.
        #expect(r.final.instances["vm3"]?.state == .stopped)
    }

    @Test func test_aRestartInPlaceThatFails_isToldOnce_andNotTriedAgain() {
        let r = Self.noRoom([(60, .nodeJoined(host: "h1")), (300, .clock)], restart: ["vm1": .fail])
        #expect(r.violations.isEmpty, "\(r.violations)")
        let acts = Lab.actions(r)
        #expect(acts.filter { $0 == "restart_instance vm1" }.count == 1, "\(acts)")
        #expect(acts.filter { $0 == "notify evacuation_failed vm1" }.count == 1, "\(acts)")
        #expect(r.final.instances["vm1"]?.state == .error && r.final.instances["vm1"]?.gaveUpAt == nil)
        #expect(r.final.instances["vm2"]?.state == .active)
    }

    /// Moved by someone else (an operator's evacuation) while it was given up on: not
    /// restarted on the host it left.
    @Test func test_anInstanceMovedByAnOperator_isNoLongerStranded() throws {
        var st = Lab.run(Self.noRoomScenarioOnly()).final
        #expect(st.instances["vm1"]?.gaveUpAt != nil)
        try st.apply(.inventory([.instanceMoved(id: "vm1", host: "h2")]), at: 100)
        #expect(st.instances["vm1"]?.gaveUpAt == nil && st.instances["vm1"]?.host == "h2")
    }

    /// lab chaos --nova, seed 10 (rerun): a restart in place was still running when its host
    /// failed again, and the same server was planned for an evacuation meanwhile. Its
    /// restart's result comes first; nothing else is planned for it until then.
    @Test func test_aRestartStillRunning_isNotDoubledByAnEvacuation_whenItsHostFailsAgain() {
        var p = Policy()
        p.evacuationRetryInterval = 10
        var sc = Lab.scenario(
            hosts: 3, reserved: 0, capacity: Self.tiny, policy: p,
            events: [(0, .nodeLost(host: "h1")), (60, .nodeJoined(host: "h1")), (70, .nodeLost(host: "h1")), (300, .clock)],
            durations: ["restart_instance": 100])
        sc.hosts[0].capacity = Lab.big
        let r = Lab.run(sc)
        #expect(r.violations.isEmpty, "\(r.violations)")
        var restartRunning: Set<String> = []
        for line in r.lines {
            switch line {
            case .action(_, .restartInstance(let i, _)): restartRunning.insert(i)
            case .result(_, .restartInstance(let i, _), _): restartRunning.remove(i)
            case .action(let at, let a):
                if let i = a.instance, restartRunning.contains(i) {
                    Issue.record("\(a.key) planned at \(at) while the restart of \(i) runs")
                }
            default: break
            }
        }
        #expect(Lab.actions(r).contains("restart_instance vm1"), "\(Lab.actions(r))")
    }

    static func noRoomScenarioOnly() -> Scenario {
        var p = Policy()
        p.evacuationRetryInterval = 0
        var s = Lab.scenario(hosts: 2, reserved: 0, capacity: Self.tiny, policy: p, events: [(0, .nodeLost(host: "h1")), (60, .clock)])
        s.hosts[0].capacity = Lab.big
        return s
    }
}

