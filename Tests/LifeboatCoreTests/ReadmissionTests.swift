import Testing

@testable import LifeboatCore

/// A fenced host that came back, refused by Nova because finished evacuation records remain
/// on it (`lab chaos --nova` seed 24): the leader restarts its nova-compute resource once,
/// then asks again at once; without such a resource, or after that one restart, the retry
/// interval applies as for any refusal.
@Suite struct ReadmissionTests {
    static let refused = ActionReport(.failed, message: "finished evacuation records remain", attributes: ["refused_for": "done_evacuation_records"])

    /// h1 lost, fenced, forced down, disabled, its instance evacuated to h2, then back (a member).
    static func h1Back(resources: [Resource], retry: Double = 10) throws -> ClusterState {
        var policy = Policy()
        policy.novaRetryInterval = retry
        let hosts = (1...3).map { Host(name: "h\($0)", segment: "s", nodeID: UInt32($0), capacity: Lab.big) }
        let c = ClusterConfiguration(
            segments: [Segment(name: "s", recoveryMethod: .auto)], hosts: hosts,
            instances: [Instance(id: "vm1", host: "h1", ha: true, flavor: Lab.small)], policy: policy, resources: resources)
        try c.validate()
        var s = ClusterState(configuration: c)
        try s.apply(.nodeLost(host: "h1"), at: 0)
        for (a, o) in [(Action.fence(host: "h1"), Outcome.off), (.forceDown(host: "h1"), .ok), (.disableService(host: "h1"), .ok),
            (.evacuate(instance: "vm1", from: "h1", to: "h2"), .ok)]
        {
            try s.start(a, at: 1)
            try s.finish(a.key, o, at: 1)
        }
        try s.apply(.nodeJoined(host: "h1"), at: 5)
        return s
    }

    static func novaCompute(_ agent: String = "ocf:lifeboat:nova-compute", name: String = "nova-compute") -> Resource {
        Resource(name: name, agent: agent)
    }

    static func readmission(_ s: ClusterState) -> [Action] {
        Scheduler.plan(s).filter {
            switch $0 {
            case .enableService, .restartProcess: true
            default: false
            }
        }
    }

    static func refuse(_ s: inout ClusterState, at t: Double) throws {
        let a = try #require(try s.start(.enableService(host: "h1"), at: t))
        try s.apply(.actionFinished(key: "enable_service:h1", attempt: a, report: refused), at: t)
    }

    @Test func test_refusedForFinishedEvacuations_restartsNovaCompute_thenEnablesAtOnce() throws {
        var s = try Self.h1Back(resources: [Self.novaCompute()])
        #expect(Self.readmission(s) == [.enableService(host: "h1")])
        try Self.refuse(&s, at: 5)
        // Not the retry interval: nova-compute is restarted there first.
        #expect(Self.readmission(s) == [.restartProcess(host: "h1", process: "nova-compute")])
        try s.start(.restartProcess(host: "h1", process: "nova-compute"), at: 6)
        #expect(Self.readmission(s).isEmpty, "nothing else while it restarts")
        try s.finish("restart_process:h1:nova-compute", .ok, at: 9)
        // Enabled again at once (9 - 5 < the 10 s interval).
        #expect(Self.readmission(s) == [.enableService(host: "h1")])
        try s.start(.enableService(host: "h1"), at: 9)
        try s.finish("enable_service:h1", .ok, at: 9)
        #expect(s.hosts["h1"]!.service == .up && s.hosts["h1"]!.recovery == nil)
        #expect(Self.readmission(s).isEmpty)
    }

    @Test func test_theRestart_isTriedOncePerFailure_thenTheIntervalApplies() throws {
        var s = try Self.h1Back(resources: [Self.novaCompute()])
        try Self.refuse(&s, at: 5)
        try s.start(.restartProcess(host: "h1", process: "nova-compute"), at: 6)
        try s.finish("restart_process:h1:nova-compute", .ok, at: 7)
        try Self.refuse(&s, at: 8)
        // Refused again after its restart: no second restart, the retry after 10 s.
        #expect(Self.readmission(s).isEmpty)
        try s.apply(.clock, at: 18)
        #expect(Self.readmission(s) == [.enableService(host: "h1")])
    }

    @Test func test_withoutANovaComputeResource_theIntervalApplies() throws {
        var s = try Self.h1Back(resources: [Resource(name: "helper", agent: "ocf:heartbeat:Dummy")])
        try Self.refuse(&s, at: 5)
        #expect(Self.readmission(s).isEmpty)
        try s.apply(.clock, at: 15)
        #expect(Self.readmission(s) == [.enableService(host: "h1")])
    }

    @Test func test_anOtherRefusal_waitsForTheInterval_evenWithTheResource() throws {
        var s = try Self.h1Back(resources: [Self.novaCompute()])
        try s.start(.enableService(host: "h1"), at: 5)
        try s.finish("enable_service:h1", .failed, at: 5)
        #expect(Self.readmission(s).isEmpty)
        try s.apply(.clock, at: 15)
        #expect(Self.readmission(s) == [.enableService(host: "h1")])
    }

    @Test func test_theResource_isFoundByNameOrByItsAgentsType() throws {
        let byAgent = try Self.h1Back(resources: [Self.novaCompute("ocf:openstack:nova-compute", name: "nc")])
        #expect(byAgent.novaComputeResource(on: "h1") == "nc")
        let byName = try Self.h1Back(resources: [Self.novaCompute("ocf:custom:compute", name: "nova-compute")])
        #expect(byName.novaComputeResource(on: "h1") == "nova-compute")
        var elsewhere = Self.novaCompute()
        elsewhere.hosts = ["h2"]
        #expect(try Self.h1Back(resources: [elsewhere]).novaComputeResource(on: "h1") == nil)
    }

    @Test func test_aFailedRestart_isNotCountedAsAFailureOfTheProcess_theOperatorIsTold() throws {
        var nc = Self.novaCompute()
        nc.restartLimit = 0  // one counted failure would escalate to a recovery of h1
        var s = try Self.h1Back(resources: [nc])
        try Self.refuse(&s, at: 5)
        try s.start(.restartProcess(host: "h1", process: "nova-compute"), at: 6)
        try s.finish("restart_process:h1:nova-compute", .failed, at: 7)
        #expect(s.hosts["h1"]!.processes["nova-compute"] == nil)
        #expect(s.hosts["h1"]!.recovery?.finished == true, "no new recovery of h1")
        #expect(s.pendingNotices.contains { $0.kind == .serviceStepFailed && $0.key == "service_step_failed:readmit-restart:h1#1" })
        // Enable is tried again at once, and after a second refusal only on the interval.
        #expect(Self.readmission(s) == [.enableService(host: "h1")])
    }

    @Test func test_theSimulator_refusesUntilARestart_andTheShippedScenarioShowsTheSteps() throws {
        var faults = Faults()
        faults.enableService = ["h1": .refusedUntilRestart]
        var scenario = Lab.scenario(
            hosts: 3, reserved: 0, method: .auto, events: [(0, .nodeLost(host: "h1")), (60, .nodeJoined(host: "h1"))], faults: faults)
        scenario.resources = [Self.novaCompute()]
        let r = Simulator.run(scenario)
        #expect(r.violations.isEmpty)
        let tail = Lab.trace(r).drop { !$0.hasPrefix("enable_service") }
        #expect(Array(tail) == [
            "enable_service h1", "=enable_service h1 failed", "notify service_step_failed h1", "restart_process h1",
            "=restart_process h1 ok", "enable_service h1", "=enable_service h1 ok",
        ], "\(Lab.trace(r))")
        #expect(r.final.hosts["h1"]!.service == .up)
    }

    @Test func test_refusedUntilRestart_isForEnableServiceOnly() {
        let text = """
            {"cluster": {"segments": [{"name": "s"}], "hosts": [{"name": "h1", "segment": "s", "capacity": {"vcpus": 1, "ram_mb": 1, "disk_gb": 1}}]},
             "faults": {"fence": {"h1": "refused_until_restart"}}, "events": []}
            """
        #expect(throws: ScenarioError.self) { try Scenario.parse(text) }
    }
}
