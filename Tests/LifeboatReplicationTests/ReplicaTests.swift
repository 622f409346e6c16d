import Foundation
import LifeboatCore
import Testing

@testable import LifeboatReplication

/// Several replicas on an in-memory "CPG": configuration changes go to every member of a
/// group, frames are delivered in one total order to the members of the sender's group.
/// Each node's clock is `t + skew[node]`, so tests can run a node ahead. The real Corosync
/// version of these tests runs in the lab (Tests/daemon).
struct FakeCPG {
    var replicas: [UInt32: Replica] = [:]
    /// Partitions: each a set of node ids that see each other.
    var groups: [[UInt32]] = []
    typealias Frame = (group: [UInt32], from: UInt32, bytes: [UInt8])
    var queue: [Frame] = []
    var logs: [String] = []
    /// Configuration version each node last had when it was asked to persist.
    var persisted: [UInt32: UInt64] = [:]
    var snapshotsWritten: [UInt32: Int] = [:]
    var records: [UInt32: [LogRecord]] = [:]
    var answers: [UInt64: String?] = [:]
    var frameID: UInt64 = 1
    var framesSent = 0
    /// Real time; a node's clock is t + skew.
    var t: Double = 1_000
    var skew: [UInt32: Double] = [:]

    static func member(_ id: UInt32) -> MemberID { MemberID(node: id, pid: 1000 + id) }

    static let configuration = ClusterConfiguration(
        segments: [Segment(name: "s", recoveryMethod: .auto)],
        hosts: (1...4).map { Host(name: "host\($0)", segment: "s", nodeID: UInt32($0), capacity: Capacity(vcpus: 8, ramMB: 8192, diskGB: 100)) },
        instances: [Instance(id: "vm1", host: "host1", ha: true, flavor: Capacity(vcpus: 1, ramMB: 1024, diskGB: 10))])

    mutating func start(_ id: UInt32, configuration: ClusterConfiguration = FakeCPG.configuration, version: UInt64 = 0) {
        replicas[id] = Replica(nodeID: id, pid: 1000 + id, configuration: configuration, configVersion: version)
    }

    /// A node started from saved state.
    mutating func start(_ id: UInt32, saved: ClusterState) {
        replicas[id] = Replica(nodeID: id, pid: 1000 + id, saved: saved, history: [], prunedHistory: 0)
    }

    func clock(_ id: UInt32) -> Double { t + (skew[id] ?? 0) }

    mutating func handle(_ id: UInt32, _ outputs: [Replica.Output]) {
        for o in outputs {
            switch o {
            case .send(let m):
                for f in m.frames(id: frameID) { queue.append((group(of: id), id, f)) }
                framesSent += m.frames(id: frameID).count
                frameID += 1
            case .persist(let p):
                persisted[id] = replicas[id]!.state.configVersion
                switch p {
                case .append(let r): records[id, default: []].append(r)
                case .snapshot: snapshotsWritten[id, default: 0] += 1
                }
            case .log(let l), .warning(let l): logs.append("\(id): \(l)")
            case .requestDone(let r, let rejected): answers[r] = rejected
            case .historyRequested(let by, let range): logs.append("\(id): history \(range) requested by \(by)")
            case .historyReceived(let p): logs.append("\(id): history part \(p.firstSeq)+\(p.entries.count)")
            }
        }
    }

    func group(of id: UInt32) -> [UInt32] { groups.first { $0.contains(id) } ?? [] }

    /// A membership change inside one group.
    mutating func change(to members: [UInt32], left: [(UInt32, Bool)] = [], joined: [UInt32] = [], extra: [MemberID] = []) {
        groups.removeAll { g in g.contains { members.contains($0) } }
        groups.append(members)
        let ids = members.map(Self.member) + extra
        for id in members {
            let out = replicas[id]!.configurationChanged(
                members: ids, left: left.map { (Self.member($0.0), $0.1) }, joined: joined.map(Self.member), now: clock(id))
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
        for id in ids { handle(id, replicas[id]!.localQuorumChanged(q, members: corosync, now: clock(id))) }
    }

    mutating func deliverAll() {
        var steps = 0
        while !queue.isEmpty && steps < 100_000 {
            steps += 1
            deliverNext()
        }
    }

    /// The next queued frame. Virtual synchrony: delivered to the sender's group as it is now.
    mutating func deliverNext() {
        let m = queue.removeFirst()
        for id in group(of: m.from) where m.group.contains(id) {
            handle(id, replicas[id]!.delivered(from: Self.member(m.from), bytes: m.bytes, now: clock(id)))
        }
    }

    /// Queued frames delivered, as they are sent, to `ids` only; returned for a member that
    /// reads them later (a frozen or late one: `deliverLate`).
    mutating func deliverOnly(to ids: [UInt32]) -> [Frame] {
        var sent: [Frame] = []
        while !queue.isEmpty {
            let m = queue.removeFirst()
            sent.append(m)
            for id in ids { handle(id, replicas[id]!.delivered(from: Self.member(m.from), bytes: m.bytes, now: clock(id))) }
        }
        return sent
    }

    /// Frames `id` reads only now, by its clock now, before whatever is queued since.
    mutating func deliverLate(_ frames: [Frame], to id: UInt32) {
        let since = queue
        queue = []
        for m in frames { handle(id, replicas[id]!.delivered(from: Self.member(m.from), bytes: m.bytes, now: clock(id))) }
        queue = since + queue
    }

    /// Every node's timers.
    mutating func tick(_ ids: [UInt32]? = nil) {
        for id in ids ?? replicas.keys.sorted() where !group(of: id).isEmpty {
            handle(id, replicas[id]!.tick(now: clock(id)))
        }
    }

    mutating func send(_ from: UInt32, _ event: Event, request: UInt64? = nil) {
        let at = replicas[from]!.clusterTime(clock(from))
        for f in WireMessage(.event(event, at: at, request: request)).frames(id: frameID) { queue.append((group(of: from), from, f)) }
        frameID += 1
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
        net.quorum([1, 2, 3], true, corosync: [1, 2, 3])
        net.deliverAll()
        return net
    }

    func state(_ id: UInt32) -> ClusterState { replicas[id]!.state }
}

@Suite struct ReplicaTests {
    /// A group commit (`events`) is applied by every node in order, each event as if it had
    /// travelled alone: each request answered with its own result, the rejected one changing
    /// nothing, and the epoch moving once per applied event.
    @Test func test_aBatchOfEvents_isAppliedInOrder_andEachRequestIsAnswered() throws {
        var net = FakeCPG.threeNodes()
        let epoch = net.state(1).epoch
        let at = net.replicas[2]!.clusterTime(net.clock(2))
        let batch = WireMessage(.events([
            .init(.maintenance(host: "host3", on: true), at: at, request: 41),
            .init(.maintenance(host: "nohost", on: true), at: at, request: 42),
            .init(.maintenance(host: "host3", on: false), at: at, request: 43),
            .init(.reserved(host: "host2", on: true), at: at, request: nil),
        ]))
        for f in batch.frames(id: net.frameID) { net.queue.append((net.group(of: 2), 2, f)) }
        net.deliverAll()
        #expect(net.answers[41] == .some(nil))
        #expect(net.answers[43] == .some(nil))
        let rejected = try #require(net.answers[42] ?? nil)
        #expect(rejected.contains("nohost"))
        for id: UInt32 in 1...3 {
            #expect(net.state(id) == net.state(1))
            #expect(net.state(id).hosts["host3"]!.maintenance == false)
            #expect(net.state(id).hosts["host2"]!.reserved)
            #expect(net.state(id).epoch == epoch + 3)
        }
        // Decoding refuses an empty batch and a malformed item, naming where.
        for (bytes, needle) in [
            (#"{"v":\#(WireMessage.currentVersion),"type":"events","events":[]}"#, "no events"),
            (#"{"v":\#(WireMessage.currentVersion),"type":"events","events":[{"at":1,"event":{"kind":"clock"},"x":1}]}"#, "events[0]"),
        ] {
            #expect(throws: WireError.self) { try WireMessage.decode(Array(bytes.utf8)) }
            do { _ = try WireMessage.decode(Array(bytes.utf8)) } catch { #expect("\(error)".contains(needle), "\(error)") }
        }
    }

    @Test func test_threeNodes_agreeOnMembersLeaderAndState() {
        let net = FakeCPG.threeNodes()
        let r = (1...3).map { net.replicas[UInt32($0)]! }
        for x in r {
            #expect(x.synced)
            #expect(x.members == [1, 2, 3].map(FakeCPG.member))
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

    /// Found by Cluster/lab chaos (seed 3): a lifeboatd frozen for seconds applies the
    /// holder's old events on thawing; each, read on arrival, looked like a holder clock
    /// seconds behind, and the offset followed it down (-9.5 s in the lab). Late samples no
    /// longer lower the offset; a holder clock really ahead still raises it.
    @Test func test_lateHolderEvents_doNotPullTheClockBack_butAHolderAheadRaisesIt() {
        var net = FakeCPG.threeNodes()
        net.quorum([1, 2, 3], true, corosync: [1, 2, 3])
        net.deliverAll()
        let holder = net.replicas[1]!.state.termHolder!.node
        let follower: UInt32 = holder == 2 ? 3 : 2
        let before = net.replicas[follower]!.clockOffset
        #expect(abs(before) < 0.5)
        // The holder's events wait 9.5 s before anyone applies them (a frozen follower).
        net.send(holder, .clock)
        net.t += 9.5
        net.deliverAll()
        #expect(net.replicas[follower]!.clockOffset == before)
        #expect(abs(net.replicas[follower]!.clusterTime(net.clock(follower)) - net.t) < 0.5)
        // A holder whose clock is 3 s ahead moves the others' cluster time with it.
        net.skew[holder] = 3
        net.send(holder, .clock)
        net.deliverAll()
        #expect(abs(net.replicas[follower]!.clockOffset - (before + 3)) < 0.5)
    }

    /// Found by Cluster/lab chaos (seed 57): host1 and host2 crashed while host3's lifeboatd
    /// was frozen. host2 came back and offered at once; host3 offered 4.6 s later, on
    /// thawing, and read host2's offer (the round's lower median) against its own: a clock
    /// 4.6 s behind. It then took the term and stamped the loss and the fence 4.6 s early
    /// into the history. Now each member reads the reference clock against the time its
    /// offer arrived, and a member that has just stalled does not let the round pull its
    /// clock back.
    @Test func test_aMemberThatOffersLate_afterAFreeze_keepsItsClockAndStampsTrueTimes() throws {
        var net = FakeCPG.threeNodes()
        net.autoQuorum = false
        for _ in 0..<4 {
            net.t += 0.5
            net.tick()
            net.deliverAll()
        }
        for id: UInt32 in 1...3 { #expect(abs(net.replicas[id]!.clusterTime(net.clock(id)) - net.t) < 0.1) }
        // host3's lifeboatd is frozen from here. host1 and host2 crash; host2's lifeboatd
        // starts again from its saved state and joins host3's group: it offers at once.
        net.t += 0.3
        let saved = net.state(2)
        net.start(2, saved: saved)
        net.groups = [[2, 3]]
        let members = [2, 3].map(FakeCPG.member)
        net.handle(2, net.replicas[2]!.configurationChanged(members: members, left: [], joined: [FakeCPG.member(2)], now: net.clock(2)))
        net.handle(2, net.replicas[2]!.localQuorumChanged(true, members: [2, 3], now: net.clock(2)))
        var backlog = net.deliverOnly(to: [2])
        for _ in 0..<9 {  // host2 runs on (its timers) while host3 is frozen
            net.t += 0.5
            net.handle(2, net.replicas[2]!.tick(now: net.clock(2)))
            backlog += net.deliverOnly(to: [2])
        }
        #expect(!net.replicas[2]!.synced)  // waiting for host3's offer
        // host3 thaws: the membership changes and quorum, then the backlog in order.
        let three = [FakeCPG.member(3)]
        net.handle(3, net.replicas[3]!.configurationChanged(members: three, left: [(FakeCPG.member(1), true), (FakeCPG.member(2), true)], joined: [], now: net.clock(3)))
        net.handle(3, net.replicas[3]!.localQuorumChanged(false, members: [3], now: net.clock(3)))
        net.handle(3, net.replicas[3]!.configurationChanged(members: members, left: [], joined: [FakeCPG.member(2)], now: net.clock(3)))
        net.handle(3, net.replicas[3]!.localQuorumChanged(true, members: [2, 3], now: net.clock(3)))
        net.deliverLate(backlog, to: 3)
        // Up to host3's own offer, which decides the round: its clock right then (a holder's
        // stamp could raise it afterwards, but in the lab host3 held the term itself).
        while net.replicas[3]!.round?.winner == nil, !net.queue.isEmpty { net.deliverNext() }
        #expect(net.replicas[3]!.round?.winner != nil)
        let decided = net.replicas[3]!.clusterTime(net.clock(3)) - net.t
        #expect(abs(decided) < 0.1, "host3's cluster time after the round is off by \(decided) s")
        net.deliverAll()
        #expect(net.replicas[2]!.synced && net.replicas[3]!.synced)
        #expect(net.replicas[3]!.lastStallAt != nil)
        for id: UInt32 in [2, 3] {
            let off = net.replicas[id]!.clusterTime(net.clock(id)) - net.t
            #expect(abs(off) < 0.1, "node \(id)'s cluster time is off by \(off) s")
        }
        // Whoever holds the term, what host3 stamps now carries the true time.
        net.send(3, .maintenance(host: "host4", on: true))
        net.deliverAll()
        let entry = try #require(net.replicas[2]!.history.last)
        #expect(abs(entry.at - net.t) < 0.1, "stamped \(entry.at - net.t) s from the true time")
        #expect(net.state(2) == net.state(3))
    }

    /// Offers need not be sent together without any stall either: node 3 starts and offers
    /// 4 s after nodes 1 and 2 saw it join, and its clock (2 s behind; node 2's is 5 s ahead)
    /// is the round's lower median. Read against their own offers, 1 and 2 would disagree
    /// with 3 by 4 s; read against the time its offer arrived, all three agree.
    @Test func test_aRoundWhoseOffersWereSentSecondsApart_leavesEveryMemberOnTheSameClock() {
        var net = FakeCPG()
        net.skew[2] = 5
        net.skew[3] = -2
        for id: UInt32 in 1...3 { net.start(id) }
        net.change(to: [1], joined: [1])
        net.deliverAll()
        net.change(to: [1, 2], joined: [2])
        net.deliverAll()
        net.autoQuorum = false
        let members = [1, 2, 3].map(FakeCPG.member)
        net.groups = [[1, 2, 3]]
        for id: UInt32 in [1, 2] {
            net.handle(id, net.replicas[id]!.configurationChanged(members: members, left: [], joined: [FakeCPG.member(3)], now: net.clock(id)))
        }
        var held = net.deliverOnly(to: [1, 2])  // node 3 reads them later
        for _ in 0..<8 {
            net.t += 0.5
            for id: UInt32 in [1, 2] { net.handle(id, net.replicas[id]!.tick(now: net.clock(id))) }
            held += net.deliverOnly(to: [1, 2])
        }
        net.handle(3, net.replicas[3]!.configurationChanged(members: members, left: [], joined: [FakeCPG.member(3)], now: net.clock(3)))
        net.deliverLate(held, to: 3)
        net.deliverAll()
        let times = (1...3).map { net.replicas[UInt32($0)]!.clusterTime(net.clock(UInt32($0))) }
        #expect((1...3).allSatisfy { net.replicas[UInt32($0)]!.synced })
        #expect(times.max()! - times.min()! < 0.1, "cluster times \(times.map { $0 - net.t })")
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
        #expect(four.leader == FakeCPG.member(1))
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
        ("unknown version", Array(#"{"v":99,"type":"event"}"#.utf8)),
        ("the previous protocol", Array(#"{"v":1,"body":{"event":{"_0":{"nodeLost":{"host":"host2"}}}}}"#.utf8)),
        ("wrong shape", Array(#"{"v":4,"type":"event","at":1,"event":{"kind":"node_lost","host":7}}"#.utf8)),
        ("unknown type", Array(#"{"v":4,"type":"reboot"}"#.utf8)),
        ("unknown key", Array(#"{"v":4,"type":"event","at":1,"event":{"kind":"clock"},"x":1}"#.utf8)),
        ("bad fragment", Array(#"{"v":4,"type":"fragment","id":1,"index":5,"count":2,"size":10,"crc32c":0,"data":""}"#.utf8)),
        ("oversized", [UInt8](repeating: 0x20, count: WireMessage.maxFrameBytes + 1)),
    ])
    func test_badWireMessage_isRejected_stateUnchanged(_ name: String, _ bytes: [UInt8]) {
        var net = FakeCPG.threeNodes()
        let before = net.replicas[2]!.state
        let out = net.replicas[2]!.delivered(from: MemberID(node: 9, pid: 9), bytes: bytes, now: 1)
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
        #expect(net.replicas[1]!.history.last?.result == .rejected("unknown host 'nope'"))
    }

    @Test func test_snapshotWithInconsistentState_isRejected() throws {
        let net = FakeCPG.threeNodes()
        let text = JSONWriter.write(net.state(1).json, timeKeys: [])
            .replacingOccurrences(of: "\"host\":\"host1\"", with: "\"host\":\"ghost\"")
        #expect(throws: ScenarioError.self) { try ClusterState.decode(try JSONParser.parse(text), at: "state") }
    }

    @Test func test_snapshotWithAnInFlightActionForAnUnknownHost_isRejected() throws {
        var s = FakeCPG.threeNodes().state(1)
        try s.apply(.nodeLost(host: "host3"), at: 5)
        try s.start(.fence(host: "host3"), at: 5)
        let good = JSONWriter.write(s.json, timeKeys: [])
        #expect(try ClusterState.decode(try JSONParser.parse(good), at: "state") == s)
        let bad = good.replacingOccurrences(of: "\"kind\":\"fence\",\"host\":\"host3\"", with: "\"kind\":\"fence\",\"host\":\"ghost\"")
        #expect(bad != good)
        #expect(throws: ScenarioError.self) { try ClusterState.decode(try JSONParser.parse(bad), at: "state") }
    }
}
