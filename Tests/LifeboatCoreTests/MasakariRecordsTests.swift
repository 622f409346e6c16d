import LifeboatCore
import Testing

/// The Masakari records in the core: identities that stay, detached hosts, notifications
/// that follow the recovery, and all of it surviving the state's encoding.
@Suite struct MasakariRecordsTests {
    func state() throws -> ClusterState {
        var c = ClusterConfiguration(
            segments: [Segment(name: "s", recoveryMethod: .auto)],
            hosts: [1, 2, 3].map { Host(name: "h\($0)", segment: "s", nodeID: UInt32($0), capacity: Lab.big) },
            instances: [Instance(id: "vm1", host: "h1", ha: true, flavor: Lab.small)])
        c.detachedHosts = [Host(name: "h9", segment: "s", nodeID: 9, capacity: Lab.big)]
        try c.validate()
        var s = ClusterState(configuration: c)
        try s.apply(.leaderChanged(holder: TermHolder(node: 1, incarnation: 1)), at: 100)
        return s
    }

    static let u1 = "11111111-1111-4111-8111-111111111111"
    static let u2 = "22222222-2222-4222-8222-222222222222"

    @Test func test_identities_areDerivedStableAndUnique_andSurviveAReconfiguration() throws {
        var s = try state()
        let ids = s.hostOrder.map { s.hosts[$0]!.identity }
        #expect(Set(ids.map(\.uuid)).count == 3 && Set(ids.map(\.serial)).count == 3)
        #expect(s.hosts["h1"]!.identity.uuid == RecordIdentity.derivedUUID("host", "h1"))
        #expect(RecordIdentity.isUUID(s.segments["s"]!.identity.uuid))
        // A configuration applied without identities keeps the ones the records have.
        var c = s.configuration
        for i in c.hosts.indices { c.hosts[i].identity = RecordIdentity() }
        try s.apply(.configure(c), at: 101)
        #expect(s.hostOrder.map { s.hosts[$0]!.identity.serial } == ids.map(\.serial))
        #expect(s.hostOrder.map { s.hosts[$0]!.identity.uuid } == ids.map(\.uuid))
    }

    @Test func test_hostRemovedThenSavedAgain_keepsNodeAndFencing_andNodeIDClashesAreRefused() throws {
        var s = try state()
        let h2 = s.hosts["h2"]!.identity.uuid
        try s.apply(.hostRemoved(uuid: h2), at: 101)
        #expect(s.hosts["h2"] == nil && s.detachedHosts["h2"]?.nodeID == 2)
        let reg = HostRegistration(uuid: Self.u1, name: "h2", segment: "s", reserved: true, maintenance: false, type: "COMPUTE", controlAttributes: "SSH")
        try s.apply(.hostSaved(reg), at: 102)
        #expect(s.hosts["h2"]?.nodeID == 2 && s.hosts["h2"]?.reserved == true && s.hosts["h2"]?.identity.uuid == Self.u1)
        #expect(s.detachedHosts["h2"] == nil)
        // Not a node of the cluster: refused, state unchanged.
        let before = s
        #expect(throws: EventRejected.self) {
            try s.apply(.hostSaved(HostRegistration(uuid: Self.u2, name: "h7", segment: "s", reserved: false, maintenance: false, type: "", controlAttributes: nil)), at: 103)
        }
        #expect(s == before)
    }

    @Test func test_aHostUnderRecovery_cannotBeRemoved_norItsSegment() throws {
        var s = try state()
        try s.apply(.nodeLost(host: "h1"), at: 101)
        let before = s
        #expect(throws: EventRejected.self) { try s.apply(.hostRemoved(uuid: s.hosts["h1"]!.identity.uuid), at: 102) }
        #expect(throws: EventRejected.self) { try s.apply(.segmentRemoved(uuid: s.segments["s"]!.identity.uuid), at: 102) }
        #expect(s == before)
    }

    @Test func test_segmentRename_movesItsHosts() throws {
        var s = try state()
        var seg = s.segments["s"]!
        seg.name = "t"
        try s.apply(.segmentSaved(seg), at: 101)
        #expect(s.segments["t"] != nil && s.segments["s"] == nil)
        #expect(s.hostsBySegment["t"]?.count == 3 && s.hosts["h1"]!.segment == "t")
    }

    @Test func test_notifications_followTheRecovery_areBounded_andSurviveEncoding() throws {
        var s = try state()
        var p = s.policy
        p.notificationRetention = 3
        var c = s.configuration
        c.policy = p
        try s.apply(.configure(c), at: 100.5)
        let n = NotificationRecord(
            identity: RecordIdentity(uuid: Self.u1), type: .computeHost, hostname: "h1", generatedTime: "2026-11-26T13:27:49.000000",
            generatedAt: 1000, payload: [.init("event", "STOPPED")])
        try s.apply(.notificationReceived(n), at: 101)
        #expect(s.hosts["h1"]!.recovery?.cause == .notification)
        #expect(s.notification(uuid: Self.u1)?.status == .running)
        // The plan fences first.
        #expect(Scheduler.plan(s).first == .fence(host: "h1"))
        let decoded = try ClusterState.decode(s.json, at: "state")
        #expect(decoded == s)
        for k in 0..<4 {
            let vm = NotificationRecord(
                identity: RecordIdentity(uuid: "33333333-3333-4333-8333-00000000000\(k)"), type: .vm, hostname: "h2",
                generatedTime: "x", generatedAt: 1000 + Double(k), payload: [.init("event", "LIFECYCLE"), .init("instance_uuid", "nope-\(k)")])
            try s.apply(.notificationReceived(vm), at: 102 + Double(k))
        }
        #expect(s.notifications.count == 3 && s.prunedNotifications == 2)
        #expect(s.notifications.allSatisfy { $0.status == .ignored })
        #expect(s.openNotifications.isEmpty, "the pruned running notification is no longer followed")
        #expect(try ClusterState.decode(s.json, at: "state") == s)
    }
}
