import Foundation
import LifeboatCore
import Testing

@testable import LifeboatReplication

/// Several replicas on an in-memory "CPG": configuration changes go to every member of a
/// group, messages are delivered in one total order to the members of the sender's group.
/// The real Corosync version of these tests runs in the lab (Tests/daemon).
struct FakeCPG {
    var replicas: [UInt32: Replica] = [:]
    /// Partitions: each a set of node ids that see each other.
    var groups: [[UInt32]] = []
    var queue: [(group: [UInt32], from: UInt32, bytes: [UInt8])] = []
    var logs: [String] = []
    var persisted: [UInt32: UInt64] = [:]

    static let configuration = ClusterConfiguration(
        segments: [Segment(name: "s", recoveryMethod: .auto)],
        hosts: (1...4).map { Host(name: "host\($0)", segment: "s", nodeID: UInt32($0), capacity: Capacity(vcpus: 8, ramMB: 8192, diskGB: 100)) },
        instances: [Instance(id: "vm1", host: "host1", ha: true, flavor: Capacity(vcpus: 1, ramMB: 1024, diskGB: 10))])

    mutating func start(_ id: UInt32, configuration: ClusterConfiguration = FakeCPG.configuration, version: UInt64 = 0) {
        replicas[id] = Replica(nodeID: id, configuration: configuration, configVersion: version)
    }

    mutating func handle(_ id: UInt32, _ outputs: [Replica.Output]) {
        for o in outputs {
            switch o {
            case .send(let m): queue.append((group(of: id), id, m.encoded()))
            case .persist(_, let v): persisted[id] = v
            case .log(let l): logs.append("\(id): \(l)")
            case .requestDone: break
            }
        }
    }

    func group(of id: UInt32) -> [UInt32] { groups.first { $0.contains(id) } ?? [] }

    /// A membership change inside one group.
    /// Each node's clock: they disagree on purpose (replicas must not depend on it).
    static func clock(_ id: UInt32) -> Double { 1_000 + Double(id) * 137 }

    mutating func change(to members: [UInt32], left: [(UInt32, Bool)] = [], joined: [UInt32] = []) {
        groups.removeAll { g in g.contains { members.contains($0) } }
        groups.append(members)
        for id in members {
            let out = replicas[id]!.configurationChanged(
                members: members, left: left.map { ($0.0, $0.1) }, joined: joined, now: Self.clock(id))
            handle(id, out)
        }
        // libquorum reports the same ring change on its own channel, after the confchg here.
        if autoQuorum {
            let ring = Set(members).union(corosyncOnly)
            quorum(members, ring.count * 2 > expectedVotes, corosync: ring.sorted())
        }
    }

    /// Simulate libquorum after every change: votes expected, and nodes that run corosync
    /// but no lifeboatd.
    var autoQuorum = true
    var expectedVotes = 3
    var corosyncOnly: Set<UInt32> = []

    mutating func quorum(_ ids: [UInt32], _ q: Bool, corosync: [UInt32]? = nil) {
        for id in ids { handle(id, replicas[id]!.localQuorumChanged(q, members: corosync, now: Self.clock(id))) }
    }

    mutating func deliverAll() {
        var steps = 0
        while !queue.isEmpty && steps < 10_000 {
            steps += 1
            let m = queue.removeFirst()
            // Virtual synchrony: delivered to the sender's group as it is now.
            for id in group(of: m.from) where m.group.contains(id) {
                handle(id, replicas[id]!.delivered(from: m.from, bytes: m.bytes, now: Self.clock(id)))
            }
        }
    }

    mutating func send(_ from: UInt32, _ event: Event, at: Double = 2) {
        queue.append((group(of: from), from, WireMessage(.event(event, at: at, request: nil)).encoded()))
    }

    /// Three nodes started one after the other, all quorate.
    static func threeNodes() -> FakeCPG {
        var net = FakeCPG()
        for id: UInt32 in 1...3 { net.start(id) }
        net.change(to: [1], joined: [1])
        net.deliverAll()
        net.change(to: [1, 2], joined: [2])
        net.deliverAll()
        net.change(to: [1, 2, 3], joined: [3])
        net.deliverAll()
        net.quorum([1, 2, 3], true)
        net.deliverAll()
        return net
    }
}

@Suite struct ReplicaTests {
    @Test func test_threeNodes_agreeOnMembersLeaderAndState() {
        let net = FakeCPG.threeNodes()
        let r = (1...3).map { net.replicas[UInt32($0)]! }
        for x in r {
            #expect(x.synced)
            #expect(x.members == [1, 2, 3])
            #expect(x.effectiveLeader == 1)
            #expect(x.state == r[0].state)
        }
        #expect(r[0].isLeader && !r[1].isLeader && !r[2].isLeader)
        #expect(r.allSatisfy { $0.state.hosts["host1"]!.member && !$0.state.hosts["host4"]!.member })
        #expect(r.allSatisfy { $0.state.hosts["host4"]!.recovery == nil })  // never seen is not a failure
    }

    @Test func test_configureNewHosts_runningLifeboatd_areMembers() {
        var net = FakeCPG()
        for id: UInt32 in 1...2 { net.start(id, configuration: ClusterConfiguration()) }
        net.change(to: [1], joined: [1])
        net.deliverAll()
        net.change(to: [1, 2], joined: [2])
        net.quorum([1, 2], true)
        net.deliverAll()
        net.send(2, .configure(FakeCPG.configuration))
        net.deliverAll()
        for id: UInt32 in [1, 2] {
            let s = net.replicas[id]!.state
            #expect(s.hosts["host1"]!.member && s.hosts["host2"]!.member)
            #expect(!s.hosts["host3"]!.member && s.hosts["host3"]!.recovery == nil)
        }
    }

    @Test func test_leaderNodeDown_survivorsElectTheLowestAtOnce() {
        var net = FakeCPG.threeNodes()
        net.change(to: [2, 3], left: [(1, true)])
        net.deliverAll()
        for id: UInt32 in [2, 3] {
            let r = net.replicas[id]!
            #expect(r.effectiveLeader == 2)
            #expect(r.state.hosts["host1"]!.recovery != nil)  // a host down is a failure
        }
        #expect(net.replicas[2]!.state == net.replicas[3]!.state)
    }

    @Test func test_nodesWithDifferentClocks_recordLossesIdentically() {
        var net = FakeCPG.threeNodes()
        net.start(4)
        net.change(to: [1, 2, 3, 4], joined: [4])
        net.deliverAll()
        net.change(to: [1, 2, 4], left: [(3, true)])
        net.deliverAll()
        net.change(to: [1, 4], left: [(2, true)])
        net.deliverAll()
        #expect(net.replicas[1]!.state == net.replicas[4]!.state)
        #expect(net.replicas[1]!.state.hosts["host2"]!.recovery?.detectedAt == net.replicas[4]!.state.hosts["host2"]!.recovery?.detectedAt)
    }

    @Test func test_hostWithStoppedLifeboatd_isAliveWhileInCorosync_andLostWhenItLeavesCorosync() {
        var net = FakeCPG.threeNodes()
        net.quorum([1, 2, 3], true, corosync: [1, 2, 3])
        net.deliverAll()
        // lifeboatd on 3 stops cleanly: it leaves CPG, its corosync stays.
        net.corosyncOnly = [3]
        net.change(to: [1, 2], left: [(3, false)])
        net.deliverAll()
        #expect(net.replicas[1]!.state.hosts["host3"]!.member)
        #expect(net.replicas[1]!.state.hosts["host3"]!.recovery == nil)
        // Then host3 crashes: only Corosync's member list shows it; the leader reports it.
        net.corosyncOnly = []
        net.quorum([1, 2], true, corosync: [1, 2])
        net.deliverAll()
        for id: UInt32 in [1, 2] {
            #expect(net.replicas[id]!.state.hosts["host3"]!.member == false)
            #expect(net.replicas[id]!.state.hosts["host3"]!.recovery != nil)
        }
        // A host running corosync but no lifeboatd (host4 here) is a member once configured.
        net.quorum([1, 2], true, corosync: [1, 2, 4])
        net.deliverAll()
        #expect(net.replicas[2]!.state.hosts["host4"]!.member)
        #expect(net.replicas[1]!.state == net.replicas[2]!.state)
    }

    @Test func test_staleCorosyncList_doesNotResurrectAHostCPGReportedDown() {
        var net = FakeCPG.threeNodes()
        net.quorum([1, 2, 3], true, corosync: [1, 2, 3])
        net.deliverAll()
        // The leader's node goes down; CPG says so before libquorum's new list arrives.
        net.autoQuorum = false
        net.change(to: [2, 3], left: [(1, true)])
        net.deliverAll()
        // Still the old list: nothing is reported either way (it is neither lost nor back yet).
        #expect(net.replicas[2]!.state.hosts["host1"]!.member)
        net.quorum([2, 3], true, corosync: [2, 3])
        net.deliverAll()
        for id: UInt32 in [2, 3] {
            #expect(net.replicas[id]!.state.hosts["host1"]!.member == false)
            #expect(net.replicas[id]!.state.hosts["host1"]!.recovery != nil)
        }
    }

    @Test func test_leaderKept_whileItIsAMember() {
        var net = FakeCPG.threeNodes()
        net.change(to: [1, 3], left: [(2, true)])
        net.deliverAll()
        #expect(net.replicas[1]!.effectiveLeader == 1)
        #expect(net.replicas[3]!.effectiveLeader == 1)
    }

    @Test func test_partition_minorityHasNoLeader_andAfterHealTheQuorateSideWins() {
        var net = FakeCPG.threeNodes()
        // 1 | 2,3
        net.change(to: [2, 3], left: [(1, true)])
        net.change(to: [1], left: [(2, true), (3, true)])
        net.quorum([1], false)
        net.deliverAll()
        #expect(net.replicas[1]!.effectiveLeader == nil)
        #expect(net.replicas[1]!.state.quorate == false)
        #expect(net.replicas[2]!.effectiveLeader == 2)
        // The majority changes configuration; the minority's attempt is refused (no quorum).
        net.send(2, .maintenance(host: "host4", on: true))
        net.send(1, .reserved(host: "host4", on: true))
        net.deliverAll()
        #expect(net.replicas[2]!.state.hosts["host4"]!.maintenance)
        #expect(net.replicas[1]!.state.hosts["host4"]!.reserved == false)
        // Heal.
        net.groups = []
        net.change(to: [1, 2, 3], joined: [1])
        net.quorum([1], true)
        net.deliverAll()
        let states = [1, 2, 3].map { net.replicas[UInt32($0)]!.state }
        #expect(states[0] == states[1] && states[1] == states[2])
        #expect(states[0].hosts["host4"]!.maintenance)
        #expect([1, 2, 3].allSatisfy { net.replicas[UInt32($0)]!.effectiveLeader == 2 })
        #expect([1, 2, 3].allSatisfy { net.replicas[UInt32($0)]!.state.epoch == states[0].epoch })
        // Then the new leader crashes: node 1 (leader of record in the old minority) takes
        // over and must record host2's loss (no stale report from the partition may hide it).
        net.change(to: [1, 3], left: [(2, true)])
        net.deliverAll()
        for id: UInt32 in [1, 3] {
            #expect(net.replicas[id]!.state.hosts["host2"]!.member == false)
            #expect(net.replicas[id]!.state.hosts["host2"]!.recovery != nil)
        }
    }

    @Test func test_minorityWithoutQuorum_doesNotRecordTheOtherSideAsLost() {
        var net = FakeCPG.threeNodes()
        net.change(to: [2, 3], left: [(1, true)])
        net.change(to: [1], left: [(2, true), (3, true)])
        net.quorum([1], false, corosync: [1])
        net.deliverAll()
        #expect(net.replicas[1]!.state.hosts["host2"]!.member)
        #expect(net.replicas[1]!.state.hosts["host2"]!.recovery == nil)
        #expect(net.replicas[2]!.state.hosts["host1"]!.member == false)
    }

    @Test func test_configurationChange_isEverywhere_andAFourthNodeGetsTheFullState() {
        var net = FakeCPG.threeNodes()
        net.send(3, .reserved(host: "host2", on: true))
        net.send(2, .haTag(instance: "vm1", on: false))
        net.deliverAll()
        #expect([1, 2, 3].allSatisfy { net.replicas[UInt32($0)]!.state.hosts["host2"]!.reserved })
        #expect([1, 2, 3].allSatisfy { net.persisted[UInt32($0)] == 2 })
        net.start(4, configuration: ClusterConfiguration(), version: 0)
        net.change(to: [1, 2, 3, 4], joined: [4])
        net.deliverAll()
        let four = net.replicas[4]!
        #expect(four.synced)
        #expect(four.state == net.replicas[1]!.state)
        #expect(four.state.instances["vm1"]!.ha == false)
        #expect(four.effectiveLeader == 1)
        #expect(four.leader == 1)
        #expect(net.persisted[4] == 2)
    }

    @Test func test_wholeClusterRestart_newestSavedConfigurationWins() {
        var net = FakeCPG()
        var changed = FakeCPG.configuration
        changed.hosts[3].reserved = true
        net.start(1, configuration: FakeCPG.configuration, version: 3)
        net.start(2, configuration: changed, version: 4)
        net.change(to: [1], joined: [1])
        net.deliverAll()
        net.change(to: [1, 2], joined: [2])
        net.deliverAll()
        #expect(net.replicas[1]!.state.hosts["host4"]!.reserved)
        #expect(net.replicas[1]!.state.configVersion == 4)
        #expect(net.replicas[1]!.state == net.replicas[2]!.state)
    }

    @Test(arguments: [
        ("garbage", Array("hello, cluster".utf8)),
        ("empty", [UInt8]()),
        ("unknown version", Array(#"{"v":99,"body":{}}"#.utf8)),
        ("wrong shape", Array(#"{"v":1,"body":{"event":{"_0":{"nodeLost":{"host":7}}}}}"#.utf8)),
        ("oversized", [UInt8](repeating: 0x20, count: WireMessage.maxBytes + 1)),
    ])
    func test_badWireMessage_isRejected_stateUnchanged(_ name: String, _ bytes: [UInt8]) {
        var net = FakeCPG.threeNodes()
        let before = net.replicas[2]!.state
        let out = net.replicas[2]!.delivered(from: 9, bytes: bytes, now: 1)
        #expect(net.replicas[2]!.state == before)
        #expect(net.replicas[2]!.rejectedMessages == 1)
        #expect(out.contains { if case .log(let l) = $0 { l.contains("rejected") } else { false } })
    }

    @Test func test_eventForUnknownHost_isRefusedByApply_recordedInHistory() {
        var net = FakeCPG.threeNodes()
        let before = net.replicas[1]!.state
        net.send(2, .maintenance(host: "nope", on: true))
        net.deliverAll()
        #expect(net.replicas[1]!.state.hosts == before.hosts)
        #expect(net.replicas[1]!.history.last?.rejected?.contains("unknown host") == true)
    }

    @Test func test_snapshotWithInconsistentState_isRejected() throws {
        var net = FakeCPG.threeNodes()
        var bad = net.replicas[1]!.state
        bad = try JSONDecoder().decode(
            ClusterState.self,
            from: JSONEncoder().encode(bad).replacing(Data("\"host\":\"host1\"".utf8), with: Data("\"host\":\"ghost\"".utf8)))
        #expect(throws: EventRejected.self) { try bad.checkedAfterDecoding() }
    }

    @Test func test_configureFromTheWireWithHugeValues_isRefusedNotATrap() {
        var net = FakeCPG.threeNodes()
        var c = FakeCPG.configuration
        c.instances = [
            Instance(id: "a", host: "host1", ha: true, flavor: Capacity(vcpus: Int.max, ramMB: 1, diskGB: 1)),
            Instance(id: "b", host: "host1", ha: true, flavor: Capacity(vcpus: Int.max, ramMB: 1, diskGB: 1)),
        ]
        let before = net.replicas[1]!.state.configuration
        net.send(2, .configure(c))
        net.deliverAll()
        #expect(net.replicas[1]!.state.configuration == before)
        #expect(net.replicas[1]!.history.last?.rejected?.contains("between 0 and") == true)
    }

    @Test func test_snapshotWithAnInFlightActionForAnUnknownHost_isRejected() throws {
        var s = FakeCPG.threeNodes().replicas[1]!.state
        try s.apply(.nodeLost(host: "host3"), at: 5)
        try s.apply(.actionStarted(.fence(host: "host3")), at: 5)
        let data = try JSONEncoder().encode(s)
            .replacing(Data("fence:host3".utf8), with: Data("fence:ghost".utf8))
            .replacing(Data("\"host\":\"host3\"}}".utf8), with: Data("\"host\":\"ghost\"}}".utf8))
        let bad = try JSONDecoder().decode(ClusterState.self, from: data)
        #expect(throws: EventRejected.self) { try bad.checkedAfterDecoding() }
        #expect(throws: Never.self) { try s.checkedAfterDecoding() }
    }
}
