import LifeboatCore

/// One member's copy of the replicated cluster state, as a pure state machine: Corosync
/// inputs in, messages to send and effects out. The daemon's actor feeds it; tests drive
/// several replicas with no cluster at all.
///
/// How members stay identical:
/// - Every member applies every input it sees, in delivery order: membership changes (CPG
///   confchg, virtual synchrony) and event messages (agreed order).
/// - After a change with joiners (or while any member is not yet synced), a sync round
///   runs: each member multicasts an `offer`; when the offers of all lifeboatd members are
///   in, every member picks the same winner (quorate side first, then the newest
///   configuration, then the most progress made while quorate, then content, then the
///   lowest member). The winner multicasts its state; every member adopts it and re-applies
///   the events delivered since the last offer. A round that makes no progress for
///   `roundTimeout` is aborted by a message, so every member closes it at the same point
///   in the order: members that never offered (not a lifeboatd, another protocol version,
///   a frozen process) are set aside and cannot lead until they speak up.
/// - The leader of record is derived from the agreed membership: the current one stays
///   while it is a member, otherwise the lowest member. It takes a term (`leader_changed`)
///   as soon as it is not the term's holder, and acts only while it holds the term, is
///   synced, both its own libquorum view and the replicated state say quorate, and
///   libquorum's member list agrees with the CPG membership (see `membershipAgrees`).
public struct Replica: Sendable {
    public let nodeID: UInt32
    public let pid: UInt32
    public var me: MemberID { MemberID(node: nodeID, pid: pid) }
    /// This process's current connection to corosync: a reconnection is a new incarnation
    /// and takes a new term (the executors of the previous one were cancelled).
    public private(set) var incarnation: UInt64
    public private(set) var state: ClusterState
    /// The processes in the CPG group, sorted.
    public private(set) var members: [MemberID] = []
    /// Members that did not take part in an aborted round: not lifeboatd, or not speaking
    /// this protocol. They cannot lead until they offer.
    public private(set) var silent: Set<MemberID> = []
    /// Leader of record (membership rule); see `mayAct` for when it acts.
    public private(set) var leader: MemberID? = nil
    public private(set) var synced = false
    /// This node's own libquorum view.
    public private(set) var localQuorate = false
    /// Local time at which this node's libquorum view went from quorate to not quorate.
    public private(set) var quorumLostAt: Double? = nil
    public private(set) var history: [HistoryEntry] = []
    /// History entries removed by retention (counted, never silent).
    public private(set) var prunedHistory = 0
    public private(set) var rejectedMessages = 0
    public private(set) var staleResults = 0
    /// Corosync's member list as this node's libquorum last reported it (with `localQuorate`).
    public private(set) var corosyncMembers: Set<UInt32>? = nil
    /// Cluster time = local clock + offset: set at each sync round (the members' lower
    /// median clock, read against the local time its offer arrived) and raised by the term
    /// holder's stamps (never lowered by them: a late message would pull it back by its
    /// delay). A round lowers it only if this process has run without a stall since before
    /// the round (`lastStallAt`).
    public private(set) var clockOffset: Double = 0
    /// Local time of this replica's last input (timer tick, delivery, membership, quorum),
    /// and when it last saw a gap of more than `stallGap` between two inputs: the process
    /// was frozen or starved, and what it receives just after is a backlog whose arrival
    /// times say nothing of when it was sent.
    var lastInputAt: Double? = nil
    var lastStallAt: Double? = nil

    /// Membership reports this leader sent and has not yet seen applied.
    var reported: [String: Bool] = [:]
    /// Startup-fencing reports sent in this leadership.
    var unseenReported: Set<String> = []
    /// Nodes CPG reported down (`NODEDOWN`) and not seen joining since.
    var nodesDown: Set<UInt32> = []
    /// Hosts whose fence was confirmed off while their node was still listed (a fence of a
    /// running host: an escalation, an operator's `fence`), with the cluster time of that
    /// confirmation. A BMC powers a host off in milliseconds; Corosync drops it from its
    /// lists only when the token times out, seconds later. Until the node leaves, its
    /// listing is stale and is not reported as the host coming back (CI saw that: the
    /// "came back" notice stopped an escalation's evacuation, and the host was fenced twice).
    var listedAfterFence: [String: Double] = [:]
    var round: Round? = nil
    /// This node's requests delivered while a sync round was open: answered once it settles.
    var pendingRequests: [UInt64] = []
    var reassembly: [FragmentKey: Reassembly] = [:]
    var claimPending = false
    /// Local time of the last event of the term holder applied here.
    var lastHolderEvent: Double? = nil
    var lastSyncRequest: Double? = nil

    /// A round with no progress (offer, fragment) for this long is aborted.
    public static let roundTimeout = 10.0
    /// How long a host confirmed off may stay in Corosync's lists before it is taken as
    /// running after all (a fence device wired to the wrong BMC): far above Corosync's token
    /// timeout plus consensus (3.6 s by default, 12 s with `token: 10000`).
    public static let listedAfterFenceGrace = 30.0
    /// The term holder sends a `clock` event when it has been quiet this long.
    public static let heartbeatInterval = 10.0
    /// The daemon ticks every 0.5 s: a gap this long between two inputs is a stall.
    public static let stallGap = 2.0

    struct Round: Sendable {
        var members: [MemberID]
        var offers: [MemberID: WireMessage.Offer] = [:]
        var winner: MemberID? = nil
        /// Events delivered since the winner was chosen: re-applied on the snapshot.
        var replay: [(event: Event, stamp: Double, origin: MemberID, request: UInt64?)]? = nil
        var lastProgress: Double
        var abortSentAt: Double? = nil
        /// The round's lower median clock (the offered clocks, alike on every member).
        var roundClock: Double? = nil
        /// Local time each offer arrived here (the reference clock is read against it).
        var offerArrived: [MemberID: Double] = [:]
    }

    struct FragmentKey: Hashable, Sendable {
        var origin: MemberID
        var id: UInt64
    }

    struct Reassembly: Sendable {
        var count: Int
        var size: Int
        var crc32c: UInt32
        var bytes: [UInt8]
        var next: Int
    }

    /// Effects for the shell to carry out.
    public enum Output: Sendable, Equatable {
        case send(WireMessage)
        /// Make durable what changed: one event record, or the whole state (adopted).
        case persist(Persist)
        /// An event message that this node sent came back and was applied (or refused).
        case requestDone(UInt64, rejected: String?)
        case log(String)
        case warning(String)
        /// A member misses these positions of the durable history: answer from ours (the
        /// leader of record does).
        case historyRequested(by: MemberID, ClosedRange<Int>)
        /// A peer's answer to this node's request for missing history.
        case historyReceived(WireMessage.HistoryPart)
    }

    public enum Persist: Sendable, Equatable {
        case append(LogRecord)
        case snapshot
    }

    /// A fresh start: a configuration and nothing known of membership yet.
    /// - Parameter incarnation: unique to this process (random by default: a host that
    ///   reboots may well get the same pid again, and must still take a new term).
    public init(
        nodeID: UInt32, pid: UInt32 = 0, configuration: ClusterConfiguration, configVersion: UInt64 = 0,
        incarnation: UInt64 = Replica.newIncarnation()
    ) {
        self.nodeID = nodeID
        self.pid = pid
        self.incarnation = incarnation
        var s = ClusterState(configuration: configuration, membersKnown: false)
        s.restoreConfigVersion(configVersion)
        state = s
    }

    /// A start from saved state (`StateStore`): membership and quorum are unknown again
    /// (`restartedFromSavedState`), everything else resumes.
    public init(
        nodeID: UInt32, pid: UInt32, saved: ClusterState, history: [HistoryEntry], prunedHistory: Int,
        incarnation: UInt64 = Replica.newIncarnation()
    ) {
        self.nodeID = nodeID
        self.pid = pid
        self.incarnation = incarnation
        state = saved.restartedFromSavedState()
        self.history = history
        self.prunedHistory = prunedHistory
    }

    /// A random 52-bit number (exact in JSON): collisions between two lifeboatd lives are
    /// out of the question in practice.
    public static func newIncarnation() -> UInt64 { UInt64.random(in: 1..<(1 << 52)) }

    // MARK: What this node may do

    /// Leader of record, synced, no round open.
    public var isLeaderOfRecord: Bool { synced && round == nil && leader == me }
    /// This incarnation holds the current term.
    public var holdsTerm: Bool { state.termHolder == TermHolder(node: nodeID, incarnation: incarnation) }
    /// libquorum's member list (with its quorum flag) is newer than every CPG change: every
    /// lifeboatd member is in it and no node CPG reported down is. Quorum comes on its own
    /// channel; until the two agree, the quorum flag may be from before a split.
    public var membershipAgrees: Bool {
        guard let listed = corosyncMembers else { return false }
        return members.allSatisfy { listed.contains($0.node) } && nodesDown.isDisjoint(with: listed)
    }
    /// This node led and held the term when a sync round opened (a node joined), and still
    /// does: it keeps the term through the round, acting on nothing new until it ends.
    public var holdsTermThroughRound: Bool { round != nil && leader == me && holdsTerm }
    /// May record notices (allowed without quorum: invariant 2 lets notices through).
    public var mayNotify: Bool { isLeaderOfRecord && holdsTerm }
    /// May start actions: the term holder of a quorate partition whose views agree.
    public var mayAct: Bool { mayNotify && localQuorate && state.quorate && membershipAgrees }
    /// Why this node does not act, for status and logs (nil when it acts or is not leader).
    public var notActingBecause: String? {
        guard leader == me else { return nil }
        if !synced || round != nil { return "synchronising with the group" }
        if !holdsTerm { return "taking a leadership term" }
        if !localQuorate || !state.quorate { return "no quorum" }
        if !membershipAgrees { return "waiting for quorum and membership to agree" }
        return nil
    }

    /// Leader while this partition is quorate and the state is synced; nil otherwise.
    public var effectiveLeader: UInt32? {
        guard synced, localQuorate, state.quorate else { return nil }
        return leader?.node
    }

    public var isLeader: Bool { mayAct }

    /// The leader's plan: everything while it may act, notices only while it may notify.
    public func plan() -> [Action] {
        guard mayNotify else { return [] }
        let all = Scheduler.plan(state)
        if mayAct { return all }
        return all.filter { if case .notify = $0 { true } else { false } }
    }

    /// This node's estimate of cluster time, to stamp the events it sends.
    public func clusterTime(_ localNow: Double) -> Double { localNow + clockOffset }

    // MARK: Inputs

    public mutating func configurationChanged(
        members list: [MemberID], left: [(member: MemberID, nodeDown: Bool)], joined: [MemberID], now: Double
    ) -> [Output] {
        noteInput(now)
        var out: [Output] = []
        let newMembers = Array(Set(list)).sorted()
        // Host liveness is not applied here: each member would stamp it with its own clock.
        // The leader of record multicasts it instead (`reconcileHostMembership`).
        let nodes = Set(newMembers.map(\.node))
        for l in left where l.nodeDown && !nodes.contains(l.member.node) { nodesDown.insert(l.member.node) }
        for j in joined { nodesDown.remove(j.node) }
        members = newMembers
        releaseFenceHolds(joined: Set(joined.map(\.node)))
        silent.formIntersection(Set(newMembers))
        reassembly = reassembly.filter { newMembers.contains($0.key.origin) }
        if !joined.isEmpty || round != nil || !synced {
            openRound(now: now, &out)
        } else {
            elect(previous: leader, now: now, &out)
        }
        return out
    }

    public mutating func delivered(from origin: MemberID, bytes: [UInt8], now: Double) -> [Output] {
        noteInput(now)
        var out: [Output] = []
        let frame: WireMessage.Frame
        do { frame = try WireMessage.decodeFrame(bytes) } catch {
            rejectedMessages += 1
            return [.log("rejected a message from \(origin): \(error)")]
        }
        switch frame {
        case .message(let m): handle(m, from: origin, now: now, &out)
        case .fragment(let f):
            if let whole = reassemble(f, from: origin, now: now, &out) {
                do { handle(try WireMessage.decode(whole), from: origin, now: now, &out) } catch {
                    rejectedMessages += 1
                    out.append(.log("rejected a \(whole.count)-byte message from \(origin): \(error)"))
                }
            }
        }
        return out
    }

    /// Timers: round timeout, a member left out of a round asking for one, the term
    /// holder's clock beat, startup fencing once its grace period is over.
    public mutating func tick(now: Double) -> [Output] {
        noteInput(now)
        var out: [Output] = []
        if let rd = round {
            if now - rd.lastProgress > Self.roundTimeout, rd.abortSentAt.map({ now - $0 > Self.roundTimeout }) ?? true {
                round!.abortSentAt = now
                out.append(.send(WireMessage(.roundAbort(round: rd.members, winner: rd.winner))))
            }
        } else if members.contains(me), !synced || silent.contains(me),
            lastSyncRequest.map({ now - $0 > Self.roundTimeout }) ?? true
        {
            lastSyncRequest = now
            out.append(.send(WireMessage(.syncRequest(round: members))))
        }
        if mayNotify, lastHolderEvent.map({ now - $0 >= Self.heartbeatInterval }) ?? true {
            lastHolderEvent = now
            out.append(.send(WireMessage(.event(.clock, at: clusterTime(now), request: nil))))
        }
        reconcileHostMembership(now: now, &out)
        return out
    }

    /// This node's libquorum view changed. It says so at once in its log; the leader of
    /// record reports it to the group (one reporter per partition) and reconciles host
    /// membership with Corosync's own member list (`corosyncMembers`).
    public mutating func localQuorumChanged(_ quorate: Bool, members list: [UInt32]? = nil, now: Double) -> [Output] {
        noteInput(now)
        var out: [Output] = []
        if localQuorate && !quorate {
            quorumLostAt = now
            out.append(
                .warning("this partition lost quorum: no fencing, evacuation or configuration change here until it returns"))
        } else if quorate && !localQuorate && quorumLostAt != nil {
            quorumLostAt = nil
            out.append(.log("quorum regained"))
        }
        localQuorate = quorate
        if let list {
            corosyncMembers = Set(list)
            // This list is newer than any node-down CPG reported before it.
            nodesDown.subtract(list)
            releaseFenceHolds()
        }
        guard synced, leader == me else { return out }
        if state.quorate != quorate {
            out.append(.send(WireMessage(.event(.quorum(quorate: quorate), at: clusterTime(now), request: nil))))
        }
        reconcileHostMembership(now: now, &out)
        return out
    }

    /// The Corosync session ended: membership is unknown until the next one reports it, and
    /// this node's state is no longer authoritative (it will sync again).
    public mutating func connectionLost() {
        members = []
        silent = []
        leader = nil
        corosyncMembers = nil
        reported = [:]
        unseenReported = []
        nodesDown = []
        listedAfterFence = [:]
        pendingRequests = []
        synced = false
        round = nil
        reassembly = [:]
        claimPending = false
        lastHolderEvent = nil
        localQuorate = false
        incarnation = incarnation % ((1 << 52) - 1) + 1
    }

    // MARK: Messages

    mutating func handle(_ message: WireMessage, from origin: MemberID, now: Double, _ out: inout [Output]) {
        switch message.body {
        case .historyRequest(let first, let last):
            if isLeaderOfRecord, origin != me { out.append(.historyRequested(by: origin, first...last)) }
        case .historyPart(let p):
            if p.to == me { out.append(.historyReceived(p)) }
        case .event(let event, let stamp, let request):
            let holderNode = state.termHolder?.node
            let result = applyLocal(event, stamp: stamp, origin: origin.node, &out)
            if origin.node == holderNode {
                lastHolderEvent = now
                // A holder's stamp read on arrival is its clock minus the message's delay, so
                // a sample only ever errs low; a backlog applied after this process was
                // frozen errs by the whole freeze (found by Cluster/lab chaos, seed 3: -9.5 s,
                // then stamped into the history once this node took the term). Samples
                // raise the offset; only a sync round (`decide`) may lower it.
                if origin != me { clockOffset = max(clockOffset, stamp - now) }
            }
            if case .leaderChanged(let h) = event { tookTerm(h, now: now, &out) }
            round?.replay?.append((event, stamp, origin, request))
            if origin == me, let request {
                if round != nil {
                    pendingRequests.append(request)  // answered once the round settles
                } else {
                    out.append(.requestDone(request, rejected: result))
                }
            }
        case .events(let items):
            for i in items { handle(WireMessage(.event(i.event, at: i.at, request: i.request)), from: origin, now: now, &out) }
        case .offer(let o):
            guard var rd = round, o.round == rd.members, members.contains(origin) else { return }
            silent.remove(origin)
            rd.offers[origin] = o
            rd.offerArrived[origin] = now
            rd.lastProgress = now
            round = rd
            let required = Set(rd.members).subtracting(silent)
            if rd.winner == nil, Set(rd.offers.keys).isSuperset(of: required) { decide(&out) }
        case .snapshot(let s):
            guard let rd = round, s.round == rd.members, origin == rd.winner, rd.replay != nil else { return }
            adopt(s, from: origin, now: now, &out)
        case .roundAbort(let r, let phase):
            guard let rd = round, r == rd.members, rd.winner == phase else { return }
            if let w = rd.winner {
                silent.insert(w)
                round!.offers[w] = nil
                round!.winner = nil
                out.append(.warning("sync round aborted: the chosen member \(w) sent no state within \(Self.roundTimeout) s; it is set aside"))
            } else {
                let missing = Set(rd.members).subtracting(silent).subtracting(rd.offers.keys)
                silent.formUnion(missing)
                out.append(
                    .warning(
                        "sync round aborted: no offer within \(Self.roundTimeout) s from \(missing.sorted().map(\.description).joined(separator: ", ")) (not a lifeboatd of protocol \(WireMessage.currentVersion)?); they are set aside"))
            }
            round!.lastProgress = now
            round!.abortSentAt = nil
            if round!.offers.isEmpty {
                round = nil
                out.append(.warning("no member is left to synchronise from"))
            } else {
                decide(&out)
            }
        case .syncRequest(let r):
            guard r == members, members.contains(origin) else { return }
            silent.remove(origin)
            openRound(now: now, &out)
        }
    }

    mutating func openRound(now: Double, _ out: inout [Output]) {
        synced = false
        round = Round(members: members, lastProgress: now)
        out.append(
            .send(
                WireMessage(
                    .offer(
                        WireMessage.Offer(
                            round: members, quorate: state.quorate && localQuorate, configVersion: state.configVersion,
                            progress: state.progress, epoch: state.epoch, digest: state.lineage, clock: now)))))
    }

    /// This member's offset after a round: the reference clock against the local time its
    /// offer arrived, not against this member's own offer. Offers need not be sent together:
    /// a member that was frozen offers seconds after the others, and an offer read against
    /// another sent that much later looks like a clock that far behind (Cluster/lab chaos,
    /// seed 57: -4.6 s, stamped into the history by the frozen member once it held the
    /// term). Read on arrival, a clock only ever errs low, by the message's delay, or by a
    /// backlog's wait for a member that has just stalled; such a member keeps a higher
    /// offset than the round's.
    func roundOffset(reference clock: Double, arrivedAt: Double) -> Double {
        let estimate = clock - arrivedAt
        if let stall = lastStallAt, let last = lastInputAt, last - stall < Self.stallGap {
            return max(clockOffset, estimate)
        }
        return estimate
    }

    /// Notes an input's local time; a gap since the last one longer than `stallGap` is a stall.
    mutating func noteInput(_ now: Double) {
        if let last = lastInputAt, now - last > Self.stallGap { lastStallAt = now }
        lastInputAt = max(lastInputAt ?? now, now)
    }

    /// Every member picks the same winner among the offers, and the same round clock.
    mutating func decide(_ out: inout [Output]) {
        guard var rd = round else { return }
        let offers = rd.offers
        rd.winner = offers.keys.max { a, b in Self.worse(offers[a]!, a, than: offers[b]!, b) }
        rd.replay = []
        let byClock = offers.sorted { ($0.value.clock, $0.key) < ($1.value.clock, $1.key) }
        let reference = byClock[(byClock.count - 1) / 2]
        rd.roundClock = reference.value.clock
        if offers[me] != nil, let arrived = rd.offerArrived[reference.key] {
            clockOffset = roundOffset(reference: reference.value.clock, arrivedAt: arrived)
        }
        round = rd
        if rd.winner == me {
            out.append(
                .send(
                    WireMessage(
                        .snapshot(
                            WireMessage.Snapshot(
                                round: rd.members, leader: leader, state: state, history: history, prunedHistory: prunedHistory)))))
        }
    }

    mutating func adopt(_ snapshot: WireMessage.Snapshot, from origin: MemberID, now: Double, _ out: inout [Output]) {
        guard let rd = round, let replay = rd.replay else { return }
        var s = snapshot.state
        s.advanceClock(to: rd.roundClock ?? s.now)
        var h = snapshot.history
        var answers: [UInt64: String?] = [:]
        for r in replay {
            let at = s.effectiveTime(stamp: r.stamp, from: r.origin.node)
            let result: HistoryEntry.Result
            var applied = Applied()
            do {
                applied = try s.apply(r.event, at: at)
                result = .applied
                if let id = r.request { answers[id] = .some(nil) }
            } catch {
                result = error.stale ? .stale(error.reason) : .rejected(error.reason)
                if let id = r.request { answers[id] = .some(error.reason) }
            }
            if case .clock = r.event {} else {
                h.append(
                    HistoryEntry(
                        epoch: s.epoch, at: at, origin: r.origin.node, event: HistoryEntry.summary(r.event), result: result, applied: applied))
            }
        }
        // Requests replayed on the adopted state get that state's answer; those applied
        // before the round's winner was chosen are in the snapshot only if it accepted them.
        for id in pendingRequests {
            let answer: String? =
                answers[id]
                ?? "the cluster re-synchronised while applying this change: check `lifeboat status` and retry if it is missing"
            out.append(.requestDone(id, rejected: answer))
        }
        pendingRequests = []
        state = s
        history = h
        prunedHistory = snapshot.prunedHistory
        pruneHistory()
        reported = [:]
        unseenReported = []
        claimPending = false
        round = nil
        synced = true
        out.append(.persist(.snapshot))
        out.append(
            .log(
                "synced from \(origin): epoch \(state.epoch), configuration version \(state.configVersion), term \(state.term), \(state.instances.count) instances, \(history.count) history entries"))
        elect(previous: snapshot.leader, now: now, &out)
    }

    /// Messages larger than a frame arrive as fragments from one sender, in order.
    mutating func reassemble(_ f: WireMessage.Fragment, from origin: MemberID, now: Double, _ out: inout [Output]) -> [UInt8]? {
        let key = FragmentKey(origin: origin, id: f.id)
        if f.index == 0 {
            reassembly[key] = Reassembly(count: f.count, size: f.size, crc32c: f.crc32c, bytes: [], next: 0)
            reassembly[key]!.bytes.reserveCapacity(f.size)
            // One sender has few messages in transit: forget its older partial ones.
            let stale = reassembly.keys.filter { $0.origin == origin && $0.id < f.id - min(f.id, 4) }
            for k in stale { reassembly[k] = nil }
        }
        guard var r = reassembly[key], r.next == f.index, r.count == f.count, r.size == f.size, r.crc32c == f.crc32c,
            r.bytes.count + f.data.count <= r.size
        else {
            reassembly[key] = nil
            rejectedMessages += 1
            out.append(.log("rejected fragment \(f.index)/\(f.count) of message \(f.id) from \(origin): out of sequence"))
            return nil
        }
        r.bytes += f.data
        r.next += 1
        if round != nil { round!.lastProgress = now }
        guard r.next == r.count else {
            reassembly[key] = r
            return nil
        }
        reassembly[key] = nil
        guard r.bytes.count == r.size, CRC32C.checksum(r.bytes) == r.crc32c else {
            rejectedMessages += 1
            out.append(.log("rejected message \(f.id) from \(origin): reassembled \(r.bytes.count) bytes fail their checksum"))
            return nil
        }
        return r.bytes
    }

    // MARK: Leadership

    /// Offer ordering: is (a, memberA) a worse choice than (b, memberB)?
    static func worse(_ a: WireMessage.Offer, _ ma: MemberID, than b: WireMessage.Offer, _ mb: MemberID) -> Bool {
        if a.quorate != b.quorate { return !a.quorate }
        if a.configVersion != b.configVersion { return a.configVersion < b.configVersion }
        if a.progress != b.progress { return a.progress < b.progress }
        if a.digest != b.digest { return a.digest < b.digest }
        return ma > mb
    }

    mutating func elect(previous: MemberID?, now: Double, _ out: inout [Output]) {
        let candidates = members.filter { !silent.contains($0) }
        let next: MemberID? = if let p = previous, candidates.contains(p) { p } else { candidates.first }
        if next != leader, next == me { out.append(.log("this node is now the leader of record")) }
        leader = next
        guard synced, next == me else { return }
        claimTermIfNeeded(now: now, &out)
        // The leader reports its partition's quorum whenever the record disagrees.
        if state.quorate != localQuorate {
            out.append(.send(WireMessage(.event(.quorum(quorate: localQuorate), at: clusterTime(now), request: nil))))
        }
        reconcileHostMembership(now: now, &out)
    }

    mutating func claimTermIfNeeded(now: Double, _ out: inout [Output]) {
        guard isLeaderOfRecord, !holdsTerm, !claimPending else { return }
        claimPending = true
        reported = [:]  // reports made in an earlier term may be obsolete
        unseenReported = []
        let holder = TermHolder(node: nodeID, incarnation: incarnation)
        out.append(.send(WireMessage(.event(.leaderChanged(holder: holder), at: clusterTime(now), request: nil))))
    }

    mutating func tookTerm(_ holder: TermHolder, now: Double, _ out: inout [Output]) {
        claimPending = false
        if holder == TermHolder(node: nodeID, incarnation: incarnation) {
            lastHolderEvent = now
            out.append(.log("took leadership term \(state.term)"))
            reconcileHostMembership(now: now, &out)
        } else {
            claimTermIfNeeded(now: now, &out)
        }
    }

    /// Whether a node is alive, as far as this node knows: a lifeboatd member of the group
    /// is; otherwise libquorum's member list decides. A node CPG reported down counts as
    /// lost only once that list no longer has it. nil: unknown, nothing reported.
    func liveness(of id: UInt32) -> Bool? {
        if members.contains(where: { $0.node == id }) { return true }
        guard let listed = corosyncMembers?.contains(id) else { return nil }
        if nodesDown.contains(id) { return listed ? nil : false }
        return listed
    }

    /// Leader only: multicasts `node_lost`/`node_joined` for configured hosts whose state
    /// disagrees with Corosync's member list, and `node_unseen` for hosts not seen since a
    /// cold start once the startup grace period is over. Each report is sent once until
    /// the state reflects it.
    mutating func reconcileHostMembership(now: Double, _ out: inout [Output]) {
        // Without quorum a partition's view of the other side is only "unreachable": it must
        // not mark healthy hosts lost in a state that may be adopted at the next merge.
        guard isLeaderOfRecord, holdsTerm, localQuorate, membershipAgrees else { return }
        // A host that left the configuration (a Masakari host delete) is forgotten: when it is
        // added again it is reported afresh.
        reported = reported.filter { name, member in state.hosts[name].map { $0.member != member } ?? false }
        let clock = clusterTime(now)
        for name in state.hostOrder {
            let h = state.hosts[name]!
            let alive = liveness(of: h.nodeID)
            if alive == true, !h.member, let since = listedAfterFence[name] {
                guard clock - since >= Self.listedAfterFenceGrace else { continue }
                listedAfterFence[name] = nil
                out.append(
                    .warning(
                        "\(name) was confirmed off by its fence \(Int(clock - since)) s ago and is still in Corosync's membership: taken as running again (check that its fence device is its own BMC)"
                    ))
            }
            if let alive, alive != h.member, reported[name] != alive {
                reported[name] = alive
                let event: Event = alive ? .nodeJoined(host: name) : .nodeLost(host: name)
                out.append(.send(WireMessage(.event(event, at: clock, request: nil))))
            }
            if alive == false, h.unseen, state.policy.startupFencing, let since = state.quorateSince,
                clock >= since + state.policy.startupGrace, !h.maintenance, h.recovery.map({ $0.finished }) ?? true,
                !h.fence.isOff, unseenReported.insert(name).inserted
            {
                out.append(.send(WireMessage(.event(.nodeUnseen(host: name), at: clock, request: nil))))
            }
        }
    }

    // MARK: Applying

    @discardableResult
    mutating func applyLocal(_ event: Event, stamp: Double, origin: UInt32, _ out: inout [Output]) -> String? {
        let at = state.effectiveTime(stamp: stamp, from: origin)
        let configBefore = state.configVersion
        var result = HistoryEntry.Result.applied
        var rejected: String? = nil
        var applied = Applied()
        let fenced = Self.hostConfirmedOff(by: event)
        let offBefore = fenced.flatMap { state.hosts[$0]?.fence.isOff } ?? true
        do { applied = try state.apply(event, at: at) } catch {
            rejected = error.reason
            if error.stale {
                staleResults += 1
                result = .stale(error.reason)
                out.append(.log("stale: \(error.reason)"))
            } else {
                result = .rejected(error.reason)
            }
        }
        if let h = fenced, !offBefore, let host = state.hosts[h], host.fence.isOff, liveness(of: host.nodeID) == true {
            listedAfterFence[h] = at
        }
        if case .clock = event {} else {
            history.append(
                HistoryEntry(epoch: state.epoch, at: at, origin: origin, event: HistoryEntry.summary(event), result: result, applied: applied))
            pruneHistory()
        }
        out.append(.persist(.append(LogRecord(epoch: state.epoch, at: at, origin: origin, event: event, result: result))))
        if state.configVersion != configBefore, event.addsHosts {
            // Hosts new to the configuration that already run lifeboatd are members; the
            // leader reports the rest from Corosync's member list.
            for id in Set(members.map(\.node)).sorted() {
                if let h = state.hostName(nodeID: id), !state.hosts[h]!.member {
                    applyLocal(.nodeJoined(host: h), stamp: at, origin: origin, &out)
                }
            }
        }
        return rejected
    }

    /// The host whose power-off an event may confirm: a fence's result, an operator's
    /// confirmation.
    static func hostConfirmedOff(by event: Event) -> String? {
        switch event {
        case .actionFinished(let key, _, _) where key.hasPrefix("fence:"): String(key.dropFirst("fence:".count))
        case .fenceConfirmedByOperator(let h): h
        default: nil
        }
    }

    /// A host held by `listedAfterFence` is released once its node is no longer seen alive
    /// (it left, as a powered-off host does) or joins again: from then on its listing is news.
    mutating func releaseFenceHolds(joined: Set<UInt32> = []) {
        guard !listedAfterFence.isEmpty else { return }
        listedAfterFence = listedAfterFence.filter { name, _ in
            guard let id = state.hosts[name]?.nodeID else { return false }
            return !joined.contains(id) && liveness(of: id) == true
        }
    }

    /// Retention of the history (`Policy.historyRetention`, `retentionAge`), in batches so
    /// that a full history does not shift its array on every event.
    mutating func pruneHistory() {
        let limit = state.policy.historyRetention
        var cut = history.count > limit + max(1, limit / 10) ? history.count - limit : 0
        let age = state.policy.retentionAge
        if age > 0, let first = history.first, state.now - first.at > age {
            while cut < history.count, state.now - history[cut].at > age { cut += 1 }
        }
        guard cut > 0 else { return }
        history.removeFirst(cut)
        prunedHistory += cut
    }
}

extension Event {
    /// Changes that may bring hosts into the configuration (they start as non-members).
    var addsHosts: Bool {
        switch self {
        case .configure, .hostSaved: true
        default: false
        }
    }
}
