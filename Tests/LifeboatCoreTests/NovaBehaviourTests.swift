import LifeboatCore
import Testing

/// Issue 9 in the core: the live inventory, evacuations retried on another target, and
/// Nova steps that wait and try again instead of giving up.
@Suite struct NovaBehaviourTests {
    static let flavor = Capacity(vcpus: 2, ramMB: 4096, diskGB: 20)

    /// h1 lost, fenced off and forced down: its evacuations are due.
    static func fencedH1(policy: Policy = Policy()) throws -> ClusterState {
        var s = Lab.scenario(hosts: 4, reserved: 0, method: .auto, policy: policy, events: []).initialState
        try s.apply(.nodeLost(host: "h1"), at: 0)
        try s.start(.fence(host: "h1"), at: 0)
        try s.finish("fence:h1", .off, at: 0)
        try s.start(.forceDown(host: "h1"), at: 0)
        try s.finish("force_down:h1", .ok, at: 0)
        return s
    }

    static func evacuation(_ plan: [Action], _ id: String) -> String? {
        for a in plan { if case .evacuate(let i, _, let to) = a, i == id { return to } }
        return nil
    }

    @Test func test_inventoryDiff_addsRemovesMovesResizesAndTags_onConfiguredHostsOnly() {
        let s = Lab.scenario(events: []).initialState
        let servers = [
            InventoryServer(id: "vm1", host: "h2", ha: true, flavor: Self.flavor),  // moved
            InventoryServer(id: "vm2", host: "h1", ha: false, flavor: Capacity(vcpus: 4, ramMB: 8192, diskGB: 40)),  // tag + resize
            InventoryServer(id: "new", host: "h3", ha: true, flavor: Self.flavor),
            InventoryServer(id: "elsewhere", host: "not-ours", ha: true, flavor: Self.flavor),
        ]  // vm3 is gone
        let changes = s.inventoryChanges(servers: servers, capacities: ["h4": Capacity(vcpus: 1, ramMB: 1, diskGB: 1)])
        #expect(changes.map(\.kind).sorted() == [
            "host_capacity", "instance_added", "instance_moved", "instance_removed", "instance_resized", "instance_tagged",
        ])
        var t = s
        #expect(throws: Never.self) { try t.apply(.inventory(changes), at: 1) }
        #expect(t.instances["vm1"]!.host == "h2" && t.instances["vm3"] == nil && t.instances["new"]!.ha)
        #expect(t.instances["vm2"]!.ha == false && t.instances["vm2"]!.flavor.vcpus == 4)
        #expect(t.hosts["h4"]!.capacity.vcpus == 1)
        #expect(t.hosts["h1"]!.used == Capacity(vcpus: 4, ramMB: 8192, diskGB: 40))
        #expect(t.hosts["h4"]!.reserved == s.hosts["h4"]!.reserved)  // operator's settings untouched
        #expect(t.inventoryChanges(servers: servers, capacities: ["h4": Capacity(vcpus: 1, ramMB: 1, diskGB: 1)]).isEmpty)
    }

    @Test func test_inventory_leavesAnInstanceInFlightAlone_andABadBatchChangesNothing() throws {
        var s = try Self.fencedH1()
        try s.start(.evacuate(instance: "vm2", from: "h1", to: "h3"), at: 1)
        let changes = s.inventoryChanges(servers: [], capacities: [:])
        #expect(!changes.contains(.instanceRemoved(id: "vm2")))
        let before = s
        #expect(throws: EventRejected.self) {
            try s.apply(.inventory([.instanceAdded(Instance(id: "x", host: "h2", ha: true, flavor: Self.flavor)), .instanceRemoved(id: "vm2")]), at: 2)
        }
        #expect(s == before)
        #expect(throws: EventRejected.self) { try s.apply(.inventory([.instanceMoved(id: "vm1", host: "nowhere")]), at: 2) }
    }

    @Test func test_failedEvacuation_isRetriedOnAnotherTarget_thenToldAfterTheLimit() throws {
        var s = try Self.fencedH1()
        let first = try #require(Self.evacuation(Scheduler.plan(s), "vm2"))
        try s.start(.evacuate(instance: "vm2", from: "h1", to: first), at: 1)
        try s.finish("evacuate:vm2", .failed, at: 2)
        #expect(s.instances["vm2"]!.state == .active && s.instances["vm2"]!.failedTargets == [first])
        // The booking on the failed target is released.
        #expect(s.hosts[first]!.used == s.instances(on: first).reduce(Capacity.zero) { $0 + $1.flavor })
        let second = try #require(Self.evacuation(Scheduler.plan(s), "vm2"))
        #expect(second != first)
        try s.start(.evacuate(instance: "vm2", from: "h1", to: second), at: 3)
        try s.finish("evacuate:vm2", .timeout, at: 4)
        #expect(s.instances["vm2"]!.state == .error)
        #expect(s.pendingNotices.contains { $0.kind == .evacuationFailed && $0.reason.contains("failed 2 times") })
        #expect(Self.evacuation(Scheduler.plan(s), "vm2") == nil)
    }

    /// Nova down: force-down fails; the recovery waits and tries again, nothing evacuated.
    @Test func test_forceDownFailure_waitsAndRetries_neverEvacuatesMeanwhile() throws {
        var policy = Policy()
        policy.novaRetryInterval = 15
        var s = Lab.scenario(hosts: 4, reserved: 0, method: .auto, policy: policy, events: []).initialState
        try s.apply(.nodeLost(host: "h1"), at: 0)
        try s.start(.fence(host: "h1"), at: 0)
        try s.finish("fence:h1", .off, at: 0)
        try s.start(.forceDown(host: "h1"), at: 0)
        try s.finish("force_down:h1", .failed, at: 1)
        #expect(s.hosts["h1"]!.recovery!.finished == false)
        #expect(s.pendingNotices.contains { $0.kind == .forceDownFailed })
        let waiting = Scheduler.plan(s).filter { if case .notify = $0 { false } else { true } }
        #expect(!waiting.contains(.forceDown(host: "h1")) && Self.evacuation(waiting, "vm2") == nil)
        try s.apply(.clock, at: 17)
        #expect(Scheduler.plan(s).contains(.forceDown(host: "h1")))
        try s.start(.forceDown(host: "h1"), at: 17)
        try s.finish("force_down:h1", .ok, at: 17)
        #expect(Self.evacuation(Scheduler.plan(s), "vm2") != nil)
    }

    @Test func test_failedReadmission_isRetriedAfterTheInterval() throws {
        var policy = Policy()
        policy.novaRetryInterval = 10
        var s = try Self.fencedH1(policy: policy)
        try s.apply(.nodeJoined(host: "h1"), at: 5)
        #expect(Scheduler.plan(s).contains(.enableService(host: "h1")))
        try s.start(.enableService(host: "h1"), at: 5)
        try s.finish("enable_service:h1", .failed, at: 6)
        #expect(!Scheduler.plan(s).contains(.enableService(host: "h1")))
        try s.apply(.clock, at: 17)
        #expect(Scheduler.plan(s).contains(.enableService(host: "h1")))
    }
}
