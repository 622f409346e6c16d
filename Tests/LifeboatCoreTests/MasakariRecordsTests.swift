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
            generatedAt: 1000, payload: [.init("event", "STOPPED"), .init("host_status", "NORMAL")])
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

    /// Masakari ignores a COMPUTE_HOST STOPPED whose host_status is not NORMAL (it cannot
    /// fence, so a doubtful word could evacuate a running host's instances). Lifeboat fences
    /// before it moves anything, and it has its own membership: a doubtful notification about
    /// a live member is ignored with the reason; about a host that is gone, it is recovered
    /// (fence first).
    @Test func test_computeHostStopped_withHostStatusUnknownOrMissing_isIgnoredForALiveMember_andRecoveredForAGoneOne() throws {
        var s = try state()
        try s.apply(.nodeJoined(host: "h1"), at: 100.2)
        try s.apply(.nodeJoined(host: "h2"), at: 100.3)
        #expect(s.hosts["h1"]!.member && !s.hosts["h1"]!.unseen)
        func stopped(_ uuid: String, _ host: String, _ status: String?, at: Double) -> NotificationRecord {
            var payload: [NotificationRecord.Pair] = [.init("event", "STOPPED")]
            if let status { payload.append(.init("host_status", status)) }
            return NotificationRecord(
                identity: RecordIdentity(uuid: uuid), type: .computeHost, hostname: host, generatedTime: "t", generatedAt: at, payload: payload)
        }
        for (k, status) in [(1, "UNKNOWN"), (2, nil)] as [(Int, String?)] {
            let uuid = "44444444-4444-4444-8444-00000000000\(k)"
            try s.apply(.notificationReceived(stopped(uuid, "h1", status, at: 1000 + Double(k) * 1000)), at: 101 + Double(k))
            let n = s.notification(uuid: uuid)!
            #expect(n.status == .ignored, "\(status ?? "missing")")
            #expect(n.message?.contains("live member") == true && n.message?.contains(status ?? "not given") == true, "\(n.message ?? "")")
            #expect(s.hosts["h1"]!.recovery == nil && !Scheduler.plan(s).contains(.fence(host: "h1")))
        }
        // The same word about a host the cluster lost: its recovery, fence first.
        try s.apply(.nodeLost(host: "h2"), at: 104)
        #expect(s.hosts["h2"]!.recovery != nil)
        let lost = "44444444-4444-4444-8444-000000000009"
        try s.apply(.notificationReceived(stopped(lost, "h2", "UNKNOWN", at: 5000)), at: 105)
        #expect(s.notification(uuid: lost)?.status == .running)
        #expect(Scheduler.plan(s).first == .fence(host: "h2"))
        // NORMAL about a live member: the monitor says it is down; Lifeboat fences it.
        var t = try state()
        try t.apply(.nodeJoined(host: "h1"), at: 100.2)
        let normal = "44444444-4444-4444-8444-000000000010"
        try t.apply(.notificationReceived(stopped(normal, "h1", "NORMAL", at: 9000)), at: 106)
        #expect(t.notification(uuid: normal)?.status == .running && t.hosts["h1"]!.recovery?.cause == .notification)
        #expect(Scheduler.plan(t).first == .fence(host: "h1"))
    }
}
