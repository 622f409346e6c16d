import LifeboatCore
import Testing

/// One or more tests per invariant in SCENARIOS.md and DESIGN.md.
@Suite struct SafetyInvariantTests {
    @Test func test_evacuate_neverBeforeFenceOff() {
        let r = Lab.run(Lab.scenario(events: [(0, .nodeLost(host: "h1"))]))
        let t = Lab.trace(r)
        let off = t.firstIndex(of: "=fence h1 off")!
        #expect(t.indices.filter { t[$0].hasPrefix("evacuate") }.allSatisfy { $0 > off })
    }

    @Test func test_applyRefusesEvacuationOfAHostNotConfirmedOff() throws {
        var s = Lab.scenario(events: []).initialState
        try s.apply(.nodeLost(host: "h1"), at: 0)
        let before = s
        #expect(throws: EventRejected.self) {
            try s.start(.evacuate(instance: "vm1", from: "h1", to: "h4"), at: 0)
        }
        #expect(s == before)
    }

    @Test func test_applyRefusesATargetOutsideTheSegment() throws {
        var sc = Lab.scenario(events: [])
        sc.segments.append(Segment(name: "other", recoveryMethod: .auto))
        sc.hosts.append(Host(name: "x1", segment: "other", nodeID: 99, capacity: Lab.big))
        var s = sc.initialState
        try s.apply(.nodeLost(host: "h1"), at: 0)
        try s.start(.fence(host: "h1"), at: 0)
        try s.finish("fence:h1", .off, at: 0)
        let before = s
        #expect(throws: EventRejected.self) {
            try s.start(.evacuate(instance: "vm1", from: "h1", to: "x1"), at: 0)
        }
        #expect(s == before)
    }

    @Test func test_noQuorum_onlyNotices() {
        let r = Lab.run(
            Lab.scenario(events: [
                (0, .quorum(quorate: false)), (1, .nodeLost(host: "h1")),
                (2, .processFailed(host: "h2", process: "nova-compute")), (3, .instanceFailed(instance: "vm1")),
            ]))
        #expect(Lab.actions(r).allSatisfy { $0.hasPrefix("notify") })
        #expect(r.final.hosts["h1"]?.fence == FenceState.none)
    }

    @Test func test_configurationChangeWithoutQuorum_isRejectedAndStateUnchanged() throws {
        var s = Lab.scenario(events: []).initialState
        try s.apply(.quorum(quorate: false), at: 0)
        let before = s
        #expect(throws: EventRejected.self) { try s.apply(.maintenance(host: "h2", on: true), at: 1) }
        #expect(throws: EventRejected.self) { try s.apply(.reserved(host: "h2", on: true), at: 1) }
        #expect(s == before)
    }

    @Test func test_targetHasCapacity_andLeftoversAreNotified() {
        // h2 and h3 have room for exactly one small instance each: of h1's three HA
        // instances the two with the highest priority fit, the third does not.
        var s = Lab.scenario(
            hosts: 3, reserved: 0, method: .auto, capacity: Capacity(vcpus: 8, ramMB: 16384, diskGB: 80),
            events: [(0, .nodeLost(host: "h1"))])
        s.instances.append(Instance(id: "vm4", host: "h2", ha: true, flavor: Capacity(vcpus: 6, ramMB: 12288, diskGB: 60)))
        s.instances.append(Instance(id: "vm5", host: "h3", ha: true, flavor: Capacity(vcpus: 6, ramMB: 12288, diskGB: 60)))
        s.instances.append(Instance(id: "vm6", host: "h1", ha: true, priority: -1, flavor: Lab.small))
        let r = Lab.run(s)
        #expect(r.violations.isEmpty, "\(r.violations)")
        let actions = Lab.actions(r)
        #expect(actions.filter { $0.hasPrefix("evacuate") }.count == 2)
        #expect(!actions.contains { $0.hasPrefix("evacuate vm6") })
        #expect(actions.contains("notify no_capacity vm6"))
        #expect(r.final.instances["vm6"]?.state == .error)
        for h in r.final.hosts.values { #expect(h.capacity.holds(h.used)) }
    }

    @Test func test_reservedHostThatReceivesInstances_stopsBeingReserve() {
        let r = Lab.run(Lab.scenario(events: [(0, .nodeLost(host: "h1"))]))
        #expect(r.final.hosts["h4"]?.reserved == false)
    }

    @Test func test_reservedTargetsFixedAtRecoveryStart_reserveStaysATargetUntilFull() {
        // Two hosts lost together; the reserve takes the first instance, stops being a
        // reserve, and still receives the second host's instances while it has room.
        var s = Lab.scenario(hosts: 5, reserved: 1, events: [(0, .nodeLost(host: "h1")), (0, .nodeLost(host: "h2"))])
        s.instances.append(Instance(id: "vm7", host: "h2", ha: true, flavor: Lab.small))
        s.policy.stormThreshold = 1
        let r = Lab.run(s)
        #expect(r.violations.isEmpty, "\(r.violations)")
        #expect(Lab.actions(r).filter { $0.hasPrefix("evacuate") }.allSatisfy { $0.hasSuffix(">h5") })
        #expect(r.final.instances["vm7"]?.host == "h5")
    }

    @Test func test_noInstanceEvacuatedTwice_evenAcrossALeaderChange() {
        let r = Lab.run(
            Lab.scenario(
                events: [(0, .nodeLost(host: "h1")), (7, .leaderChanged(holder: TermHolder(node: 9, incarnation: 0)))],
                durations: ["fence": 2, "force_down": 1, "evacuate": 5]))
        #expect(r.violations.isEmpty, "\(r.violations)")
        let okResults = Lab.trace(r).filter { $0.hasPrefix("=evacuate") && $0.hasSuffix(" ok") }
        #expect(okResults.sorted() == ["=evacuate vm1 h1>h4 ok", "=evacuate vm2 h1>h4 ok"])
        // The unfinished evacuations were re-issued with the same target, finished steps were not.
        #expect(Lab.actions(r).filter { $0 == "fence h1" }.count == 1)
        #expect(Lab.actions(r).filter { $0 == "evacuate vm1 h1>h4" }.count == 2)
        #expect(r.final.hosts["h4"]?.used == Capacity(vcpus: 4, ramMB: 8192, diskGB: 40))
    }

    @Test func test_atMostOneFenceInFlightPerHost() throws {
        var s = Lab.scenario(events: []).initialState
        try s.apply(.nodeLost(host: "h1"), at: 0)
        try s.start(.fence(host: "h1"), at: 0)
        let before = s
        #expect(throws: EventRejected.self) { try s.start(.fence(host: "h1"), at: 0) }
        #expect(s == before)
        #expect(!Scheduler.plan(s).contains(.fence(host: "h1")))
    }

    @Test func test_maxConcurrentHostRecoveries_queuesTheRest() {
        var s = Lab.scenario(
            hosts: 8, reserved: 2,
            events: [(0, .nodeLost(host: "h1")), (0, .nodeLost(host: "h2")), (0, .nodeLost(host: "h3"))],
            durations: ["fence": 10])
        s.policy.maxConcurrentHostRecoveries = 2
        let r = Lab.run(s)
        let fenceStarts = r.lines.compactMap { line -> Double? in
            if case .action(let at, .fence) = line { at } else { nil }
        }
        #expect(fenceStarts == [0, 0, 10])
        #expect(r.violations.isEmpty, "\(r.violations)")
    }

    @Test func test_flappingHost_isNotFencedInALoop() {
        let r = Lab.run(
            Lab.scenario(
                policy: .with { $0.flapLimit = 2 },
                events: [
                    (0, .nodeLost(host: "h1")), (100, .nodeJoined(host: "h1")), (200, .nodeLost(host: "h1")),
                    (300, .nodeJoined(host: "h1")), (400, .nodeLost(host: "h1")),
                ]))
        #expect(Lab.actions(r).filter { $0 == "fence h1" }.count == 2)
        #expect(Lab.actions(r).last == "notify flapping h1")
    }

    @Test func test_stormGuard_haltsFencingInTheSegment_untilReset() {
        let r = Lab.run(
            Lab.scenario(
                hosts: 4,
                events: [
                    (0, .nodeLost(host: "h1")), (5, .nodeLost(host: "h2")), (10, .nodeLost(host: "h3")),
                    (100, .stormReset(segment: "s")),
                ]))
        let t = r.lines
        // h1 is fenced at once; at h2 (2 of 4 = half, not more) still no storm; h3 makes
        // 3 of 4: halted. Nothing new starts until the reset at 100.
        var kinds: [String] = []
        for case .action(let at, let a) in t where at > 10 && at < 100 { kinds.append(a.kind) }
        #expect(kinds.isEmpty)
        #expect(Lab.actions(r).contains("notify storm_halted s"))
        let fencesAt100 = t.filter { if case .action(100, .fence) = $0 { true } else { false } }
        #expect(!fencesAt100.isEmpty)
        #expect(r.violations.isEmpty, "\(r.violations)")
    }

    @Test func test_stormWindow_lossesFarApartAreNotAStorm() {
        let r = Lab.run(
            Lab.scenario(
                hosts: 4, reserved: 1,
                events: [(0, .nodeLost(host: "h2")), (100, .nodeLost(host: "h3")), (200, .nodeLost(host: "h1"))]))
        #expect(!Lab.actions(r).contains("notify storm_halted s"))
        #expect(Lab.actions(r).filter { $0.hasPrefix("fence") }.count == 3)
    }

    @Test func test_fencedHostComesBack_isReadmittedAndIsATargetAgain() {
        var s = Lab.scenario(
            hosts: 3, reserved: 0, method: .auto,
            events: [(0, .nodeLost(host: "h1")), (50, .nodeJoined(host: "h1")), (60, .nodeLost(host: "h2"))])
        s.policy.readmitReserve = .keep
        let r = Lab.run(s)
        #expect(Lab.actions(r).contains("enable_service h1"))
        #expect(r.final.hosts["h1"]?.service == .up)
        #expect(r.final.hosts["h1"]?.fence == FenceState.none)
        // h2's instances (vm1, vm2 moved there or to h3 before) can now land on h1.
        let laterTargets = r.lines.compactMap { line -> String? in
            if case .action(60, .evacuate(_, _, let to)) = line { to } else { nil }
        }
        #expect(laterTargets.allSatisfy { $0 == "h1" || $0 == "h3" })
        #expect(r.violations.isEmpty, "\(r.violations)")
    }

    @Test func test_readmitReservePolicy_reserve() {
        let r = Lab.run(
            Lab.scenario(
                policy: .with { $0.readmitReserve = .reserve },
                events: [(0, .nodeLost(host: "h1")), (50, .nodeJoined(host: "h1"))]))
        #expect(r.final.hosts["h1"]?.reserved == true)
    }

    @Test func test_hostBackBeforeFencing_recoveryCancelled() {
        var s = Lab.scenario(
            hosts: 6, reserved: 1,
            events: [(0, .nodeLost(host: "h2")), (0, .nodeLost(host: "h3")), (0.5, .nodeLost(host: "h1")), (1, .nodeJoined(host: "h1"))],
            durations: ["fence": 5])
        s.policy.maxConcurrentHostRecoveries = 2
        s.policy.stormThreshold = 1
        let r = Lab.run(s)
        // h1 was queued behind h2 and h3 and came back before its turn: never fenced.
        #expect(!Lab.actions(r).contains("fence h1"))
        #expect(r.final.hosts["h1"]?.recovery == nil)
    }
}
