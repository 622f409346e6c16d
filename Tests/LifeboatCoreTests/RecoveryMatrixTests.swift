import LifeboatCore
import Testing

/// One or more tests per row of the recovery matrix (DESIGN.md).
@Suite struct RecoveryMatrixTests {
    struct Row: CustomTestStringConvertible, Sendable {
        var name: String
        var scenario: Scenario
        var expected: [String]
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(
            name: "host down → fence → force down + disable → evacuate HA instances, priority first",
            scenario: Lab.scenario(events: [(0, .nodeLost(host: "h1"))]),
            expected: [
                "fence h1", "force_down h1", "disable_service h1", "evacuate vm2 h1>h4", "evacuate vm1 h1>h4",
            ]),
        Row(
            name: "VM down on a healthy host → restart in place",
            scenario: Lab.scenario(events: [(0, .instanceFailed(instance: "vm1"))]),
            expected: ["restart_instance vm1"]),
        Row(
            name: "VM keeps failing → bounded restarts, then notify",
            scenario: Lab.scenario(
                policy: .with { $0.instanceRestartLimit = 2 }, events: [(0, .instanceFailed(instance: "vm1"))],
                faults: .with(instanceRestart: ["vm1": .fail])),
            expected: ["restart_instance vm1", "restart_instance vm1", "notify instance_restart_limit vm1"]),
        Row(
            name: "nova-compute down → restart in place",
            scenario: Lab.scenario(events: [(0, .processFailed(host: "h2", process: "nova-compute"))]),
            expected: ["restart_process h2"]),
        Row(
            name: "nova-compute restart fails → bounded, then fence, force down, disable, evacuate",
            scenario: Lab.scenario(
                policy: .with { $0.processRestartLimit = 2 },
                events: [(0, .processFailed(host: "h1", process: "nova-compute"))],
                faults: .with(processRestart: ["h1": .fail])),
            expected: [
                "restart_process h1", "restart_process h1", "fence h1", "force_down h1", "disable_service h1",
                "evacuate vm2 h1>h4", "evacuate vm1 h1>h4",
            ]),
        Row(
            name: "network cut, minority side: no quorum → nothing but a notice",
            scenario: Lab.scenario(events: [(0, .quorum(quorate: false)), (1, .nodeLost(host: "h1"))]),
            expected: ["notify quorum_lost -"]),
        Row(
            name: "host in maintenance → loss ignored, no recovery",
            scenario: Lab.scenario(events: [(0, .maintenance(host: "h1", on: true)), (1, .nodeLost(host: "h1"))]),
            expected: []),
    ]

    @Test(arguments: rows)
    func test_recoveryMatrixRow_shouldPlanExactlyTheRecovery(_ row: Row) {
        let r = Lab.run(row.scenario)
        #expect(Lab.actions(r) == row.expected)
        #expect(r.violations.isEmpty, "\(r.violations)")
    }

    @Test func test_hostDown_afterRecovery_instancesMovedAndNonHAStopped() {
        let r = Lab.run(Lab.scenario(events: [(0, .nodeLost(host: "h1"))]))
        #expect(r.final.instances["vm1"]?.host == "h4")
        #expect(r.final.instances["vm2"]?.host == "h4")
        #expect(r.final.instances["vm3"]?.host == "h1")
        #expect(r.final.instances["vm3"]?.state == .stopped)
        #expect(r.final.hosts["h1"]?.service == .forcedDown)
        #expect(r.final.hosts["h1"]?.fence == .off)
    }

    @Test func test_fenceFails_shouldNotEvacuateAndShouldNotify_untilOperatorConfirms() {
        let s = Lab.scenario(
            events: [(0, .nodeLost(host: "h1")), (30, .fenceConfirmedByOperator(host: "h1"))],
            faults: .with(fence: ["h1": .fail]))
        let r = Lab.run(s)
        let t = Lab.trace(r)
        let notice = t.firstIndex(of: "notify fence_failed h1")!
        let firstEvacuation = t.firstIndex { $0.hasPrefix("evacuate") }!
        #expect(t.prefix(notice) == ["fence h1", "=fence h1 failed", "fence h1", "=fence h1 failed"])
        #expect(firstEvacuation > notice)
        // The evacuations happen at the operator's confirmation, not before.
        let evacuationTimes = r.lines.compactMap { line -> Double? in
            if case .action(let at, .evacuate) = line { at } else { nil }
        }
        #expect(evacuationTimes == [30, 30])
        #expect(r.violations.isEmpty)
    }

    @Test func test_fenceTimeout_countsAsFailure() {
        let r = Lab.run(Lab.scenario(events: [(0, .nodeLost(host: "h1"))], faults: .with(fence: ["h1": .timeout])))
        #expect(Lab.trace(r).contains("=fence h1 timeout"))
        #expect(Lab.actions(r).last == "notify fence_failed h1")
        #expect(!Lab.actions(r).contains { $0.hasPrefix("evacuate") })
    }

    @Test func test_quorumReturns_shouldResumeRecovery() {
        let r = Lab.run(
            Lab.scenario(events: [
                (0, .quorum(quorate: false)), (1, .nodeLost(host: "h1")), (10, .quorum(quorate: true)),
            ]))
        #expect(Lab.actions(r).first == "notify quorum_lost -")
        #expect(Lab.actions(r).contains("evacuate vm2 h1>h4"))
        for line in r.lines {
            if case .action(let at, let a) = line, at < 10 { #expect(a.kind == "notify") }
        }
    }

    @Test func test_disabledSegment_shouldNotRecoverAndShouldNotify() {
        var s = Lab.scenario(events: [(0, .nodeLost(host: "h1"))])
        s.segments[0].enabled = false
        let r = Lab.run(s)
        #expect(Lab.actions(r) == ["notify segment_disabled h1"])
    }

    @Test func test_maintenanceHost_isNeverATarget() {
        var s = Lab.scenario(method: .auto, events: [(0, .nodeLost(host: "h1"))])
        s.hosts[1].maintenance = true  // h2
        let r = Lab.run(s)
        let targets = Lab.actions(r).filter { $0.hasPrefix("evacuate") }
        #expect(!targets.isEmpty)
        #expect(targets.allSatisfy { $0.hasSuffix(">h3") })
    }

    @Test func test_processFailureOnMaintenanceHost_isIgnored() {
        var s = Lab.scenario(events: [(0, .processFailed(host: "h2", process: "nova-compute"))])
        s.hosts[1].maintenance = true
        #expect(Lab.actions(Lab.run(s)).isEmpty)
    }
}
