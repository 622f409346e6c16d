import Testing

@testable import LifeboatCore

/// Issue 10: resources in the configuration, per-resource restart limits and failure
/// timeouts, `on_fail`, hard errors that block, cleanup and operator restarts.
@Suite struct ResourceTests {
    static func state(_ resources: [Resource], policy: Policy = Policy()) throws -> ClusterState {
        let hosts = (1...3).map { Host(name: "h\($0)", segment: $0 == 3 ? "t" : "s", nodeID: UInt32($0), capacity: Lab.big) }
        let c = ClusterConfiguration(
            segments: [Segment(name: "s", recoveryMethod: .auto), Segment(name: "t", recoveryMethod: .auto)], hosts: hosts,
            policy: policy, resources: resources)
        try c.validate()
        return ClusterState(configuration: c)
    }

    static func resource(_ name: String, _ f: (inout Resource) -> Void = { _ in }) -> Resource {
        var r = Resource(name: name, agent: "ocf:heartbeat:Dummy")
        f(&r)
        return r
    }

    static func restarts(_ s: ClusterState) -> [String] {
        Scheduler.plan(s).compactMap { if case .restartProcess(let h, let p) = $0 { "\(h):\(p)" } else { nil } }
    }

    /// Starts the planned restart of `p` on `h` and finishes it with `outcome`.
    static func restart(_ s: inout ClusterState, _ h: String, _ p: String, _ outcome: Outcome, at t: Double) throws {
        let a = try #require(try s.start(.restartProcess(host: h, process: p), at: t))
        try s.apply(.actionFinished(key: "restart_process:\(h):\(p)", attempt: a, report: ActionReport(outcome)), at: t)
    }

    @Test func test_resourcesApplyToTheirHostsOrSegment() throws {
        let s = try Self.state([
            Self.resource("everywhere"), Self.resource("seg") { $0.segment = "t" }, Self.resource("one") { $0.hosts = ["h2"] },
        ])
        #expect(s.resources(on: "h1").map(\.name) == ["everywhere"])
        #expect(s.resources(on: "h2").map(\.name) == ["everywhere", "one"])
        #expect(s.resources(on: "h3").map(\.name) == ["everywhere", "seg"])
    }

    @Test func test_perResourceRestartLimit_thenEscalation() throws {
        var s = try Self.state([Self.resource("agent") { $0.restartLimit = 1 }], policy: .with { $0.processRestartLimit = 5 })
        try s.apply(.processFailed(host: "h1", process: "agent"), at: 1)
        #expect(Self.restarts(s) == ["h1:agent"])
        try Self.restart(&s, "h1", "agent", .ok, at: 2)
        #expect(s.hosts["h1"]!.processes["agent"]?.failed == false)
        try s.apply(.processFailed(host: "h1", process: "agent"), at: 3)
        // Second failure with a limit of 1: the host is recovered (fenced, evacuated).
        #expect(s.hosts["h1"]!.recovery?.cause == .processFailure)
        #expect(Self.restarts(s).isEmpty)
    }

    @Test func test_onFailBlock_blocksAndTells_insteadOfFencing() throws {
        var s = try Self.state([Self.resource("helper") { $0.restartLimit = 0; $0.onFail = .block }])
        try s.apply(.processFailed(host: "h2", process: "helper"), at: 1)
        #expect(s.hosts["h2"]!.recovery == nil)
        #expect(s.hosts["h2"]!.processes["helper"]?.blocked?.contains("restart limit 0") == true)
        #expect(Self.restarts(s).isEmpty)
        #expect(s.pendingNotices.contains { $0.kind == .resourceBlocked && $0.host == "h2" })
        // Further failures of a blocked resource change nothing.
        let before = s.hosts["h2"]!
        try s.apply(.processFailed(host: "h2", process: "helper"), at: 2)
        #expect(s.hosts["h2"]! == before)
        // Cleanup forgets it all; the next failure is counted from zero again.
        try s.apply(.resourceCleanup(host: "h2", process: "helper"), at: 3)
        #expect(s.hosts["h2"]!.processes["helper"] == nil)
    }

    @Test func test_hardError_blocksWithoutARestartLoop() throws {
        var s = try Self.state([Self.resource("bad")])
        try s.apply(.resourceBlocked(host: "h1", process: "bad", reason: "monitor exited 6 (OCF_ERR_CONFIGURED)"), at: 1)
        #expect(Self.restarts(s).isEmpty)
        try s.apply(.processFailed(host: "h1", process: "bad"), at: 2)
        #expect(Self.restarts(s).isEmpty, "a blocked resource is not restarted")
        #expect(s.hosts["h1"]!.recovery == nil)
    }

    @Test func test_failureTimeout_perResource_forgetsOldFailures() throws {
        var s = try Self.state([Self.resource("agent") { $0.restartLimit = 1; $0.failureTimeout = 60 }])
        try s.apply(.processFailed(host: "h1", process: "agent"), at: 1)
        try Self.restart(&s, "h1", "agent", .ok, at: 2)
        try s.apply(.processFailed(host: "h1", process: "agent"), at: 100)  // 99 s later: the first is forgotten
        #expect(s.hosts["h1"]!.recovery == nil)
        #expect(s.hosts["h1"]!.processes["agent"]?.failures == 1)
        #expect(Self.restarts(s) == ["h1:agent"])
    }

    @Test func test_operatorRestart_isNotAFailure_andIsRefusedWhereNothingRuns() throws {
        var s = try Self.state([Self.resource("agent") { $0.hosts = ["h1"] }])
        try s.apply(.resourceRestart(host: "h1", process: "agent"), at: 1)
        #expect(Self.restarts(s) == ["h1:agent"])
        #expect(s.hosts["h1"]!.processes["agent"]?.failures == 0)
        try Self.restart(&s, "h1", "agent", .ok, at: 2)
        #expect(s.hosts["h1"]!.processes["agent"] == nil)
        #expect(throws: EventRejected.self) { try s.apply(.resourceRestart(host: "h2", process: "agent"), at: 3) }
        #expect(throws: EventRejected.self) { try s.apply(.resourceCleanup(host: "h2", process: "nothing"), at: 3) }
        try s.apply(.maintenance(host: "h1", on: true), at: 4)
        #expect(throws: EventRejected.self) { try s.apply(.resourceRestart(host: "h1", process: "agent"), at: 5) }
        try s.apply(.quorum(quorate: false), at: 6)
        #expect(throws: EventRejected.self) { try s.apply(.resourceCleanup(host: "h1", process: "agent"), at: 7) }
    }

    @Test func test_twoResourcesFailing_areRestartedSideBySide() throws {
        var s = try Self.state([Self.resource("a"), Self.resource("b")])
        try s.apply(.processFailed(host: "h1", process: "b"), at: 1)
        try s.apply(.processFailed(host: "h1", process: "a"), at: 1)
        #expect(Self.restarts(s) == ["h1:a", "h1:b"])
        try Self.restart(&s, "h1", "a", .failed, at: 2)
        #expect(s.hosts["h1"]!.processes["a"]?.failures == 2)
    }

    @Test(arguments: [
        (#"{"name": "x", "agent": "lsb:nova"}"#, "cluster.resources[0].agent"),
        (#"{"name": "x", "agent": "ocf:heartbeat:Dummy", "hosts": ["nope"]}"#, "cluster.resources[0].hosts"),
        (#"{"name": "x", "agent": "ocf:heartbeat:Dummy", "segment": "nope"}"#, "cluster.resources[0].segment"),
        (#"{"name": "x", "agent": "ocf:heartbeat:Dummy", "monitor_interval": 0}"#, "cluster.resources[0].monitor_interval"),
        (#"{"name": "x", "agent": "ocf:heartbeat:Dummy", "timeouts": {"start": -1}}"#, "cluster.resources[0].timeouts.start"),
        (#"{"name": "x", "agent": "ocf:heartbeat:Dummy", "params": {"bad key": "1"}}"#, "cluster.resources[0].params"),
        (#"{"name": "x", "agent": "ocf:heartbeat:Dummy", "on_fail": "explode"}"#, "cluster.resources[0].on_fail"),
        (#"{"name": "x", "agent": "ocf:heartbeat:Dummy", "colour": "red"}"#, "cluster.resources[0]"),
    ])
    func test_badResource_isAClearError(_ json: String, _ place: String) throws {
        let text = #"{"segments": [{"name": "s"}], "hosts": [{"name": "h1", "segment": "s", "capacity": {"vcpus": 1, "ram_mb": 1, "disk_gb": 1}}], "instances": [], "resources": [\#(json)]}"#
        do {
            _ = try ClusterConfiguration.parse(try JSONParser.parse(text))
            Issue.record("accepted: \(json)")
        } catch {
            #expect("\(error)".hasPrefix(place), "\(error)")
        }
    }

    @Test func test_resourcesRoundTripThroughTheConfigurationFormat() throws {
        let r = Self.resource("nc") {
            $0.segment = "t"
            $0.params = ["config": "/etc/nova/nova.conf"]
            $0.monitorInterval = 2
            $0.startTimeout = 30
            $0.restartLimit = 2
            $0.failureTimeout = 300
            $0.onFail = .block
        }
        let s = try Self.state([r])
        let back = try ClusterConfiguration.parse(s.configuration.json)
        #expect(back.resources == [r])
        let decoded = try ClusterState.decode(s.json, at: "state")
        #expect(decoded.resources == [r])
    }
}
