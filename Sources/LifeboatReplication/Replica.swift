import Foundation
import LifeboatCore

/// One member's copy of the replicated cluster state, as a pure state machine: Corosync
/// inputs in, messages to send and effects out. The daemon's actor feeds it; tests drive
/// several replicas with no cluster at all.
///
/// How members stay identical:
/// - Every member applies every input it sees, in delivery order: membership changes (CPG
///   confchg, virtual synchrony) and event messages (agreed order).
/// - After a change with joiners (or while any member is not yet synced), a sync round
///   runs: each member multicasts an `offer`; when the offers of all members have arrived,
///   every member picks the same winner (quorate side first, then newest configuration,
///   then most events applied, then lowest node id). The winner multicasts its state; every
///   member adopts it and re-applies the events delivered since the last offer. So after a
///   partition heals the quorate side's state wins, and a joiner gets the full state.
/// - The leader is derived from the agreed membership: the current leader stays while it is
///   a member, otherwise the lowest node id. It acts only while synced and quorate.
public struct Replica: Sendable {
    public let nodeID: UInt32
    public private(set) var state: ClusterState
    /// Node ids of the lifeboatd processes in the CPG group, sorted.
    public private(set) var members: [UInt32] = []
    /// Leader of record (membership rule); see `effectiveLeader`.
    public private(set) var leader: UInt32? = nil
    public private(set) var synced = false
    /// This node's own libquorum view.
    public private(set) var localQuorate = false
    public private(set) var history: [HistoryEntry] = []
    public private(set) var rejectedMessages = 0
    /// Corosync's member list as this node's libquorum last reported it (with `localQuorate`).
    public private(set) var corosyncMembers: Set<UInt32>? = nil
    /// Membership reports this leader sent and has not yet seen applied.
    var reported: [String: Bool] = [:]
    /// Nodes CPG reported down (`NODEDOWN`) and not seen joining since.
    var nodesDown: Set<UInt32> = []

    var roundOpen = false
    var offers: [UInt32: Offer] = [:]
    var winner: UInt32? = nil
    /// Events delivered since the last offer of the round: re-applied on the snapshot.
    var sinceLastOffer: [(event: Event, at: Double, origin: UInt32, request: UInt64?)]? = nil
    /// This node's operator requests delivered while a sync round was open.
    var pendingRequests: [UInt64] = []

    public static let historyLimit = 10_000

    struct Offer: Equatable {
        var quorate: Bool
        var configVersion: UInt64
        var epoch: UInt64
    }

    /// Effects for the shell to carry out.
    public enum Output: Sendable, Equatable {
        case send(WireMessage)
        /// Save the configuration (it changed).
        case persist(ClusterConfiguration, version: UInt64)
        /// An event message that this node sent came back and was applied (or refused).
        case requestDone(UInt64, rejected: String?)
        case log(String)
    }

    public init(nodeID: UInt32, configuration: ClusterConfiguration, configVersion: UInt64 = 0) {
        self.nodeID = nodeID
        var s = ClusterState(configuration: configuration, membersKnown: false)
        s.restoreConfigVersion(configVersion)
        state = s
    }

    /// Leader while this partition is quorate and the state is synced; nil otherwise.
    public var effectiveLeader: UInt32? {
        guard synced, localQuorate, state.quorate else { return nil }
        return leader
    }

    public var isLeader: Bool { effectiveLeader == nodeID }

    // MARK: Inputs

    public mutating func configurationChanged(
        members list: [UInt32], left: [(nodeID: UInt32, nodeDown: Bool)], joined: [UInt32], now: Double
    ) -> [Output] {
        var out: [Output] = []
        let newMembers = Array(Set(list)).sorted()
        // Host liveness is not applied here: each member would stamp it with its own clock
        // and the replicas' timers (storm window, queue order) would drift apart. The leader
        // of record multicasts it instead (`reconcileHostMembership`), one timestamp for all.
        for l in left where l.nodeDown && !newMembers.contains(l.nodeID) { nodesDown.insert(l.nodeID) }
        for j in joined { nodesDown.remove(j) }
        members = newMembers
        if !joined.isEmpty || roundOpen || !synced {
            roundOpen = true
            synced = false
            offers = [:]
            winner = nil
            sinceLastOffer = nil
            out.append(
                .send(
                    WireMessage(
                        .offer(
                            members: members, quorate: state.quorate && localQuorate, configVersion: state.configVersion,
                            epoch: state.epoch))))
        } else {
            elect(previous: leader, now: now, &out)
        }
        return out
    }

    public mutating func delivered(from origin: UInt32, bytes: [UInt8], now: Double) -> [Output] {
        var out: [Output] = []
        let message: WireMessage
        do { message = try WireMessage.decode(bytes) } catch {
            rejectedMessages += 1
            return [.log("rejected a message from node \(origin): \(error)")]
        }
        switch message.body {
        case .event(let event, let at, let request):
            let rejected = applyLocal(event, at: at, origin: origin, &out)
            sinceLastOffer?.append((event, at, origin, request))
            if origin == nodeID, let request {
                if roundOpen {
                    pendingRequests.append(request)  // answered once the round settles
                } else {
                    out.append(.requestDone(request, rejected: rejected))
                }
            }
        case .offer(let m, let q, let cv, let ep):
            guard roundOpen, m == members, members.contains(origin) else { break }
            offers[origin] = Offer(quorate: q, configVersion: cv, epoch: ep)
            if winner == nil, Set(offers.keys).isSuperset(of: members) {
                winner = members.max { a, b in Self.worse(offers[a]!, a, than: offers[b]!, b) }
                sinceLastOffer = []
                if winner == nodeID { out.append(contentsOf: snapshotMessage()) }
            }
        case .snapshot(let m, let snapshot, let snapshotLeader, let snapshotHistory):
            guard roundOpen, m == members, origin == winner, let replay = sinceLastOffer else { break }
            var s: ClusterState
            do { s = try snapshot.checkedAfterDecoding() } catch {
                rejectedMessages += 1
                out.append(.log("rejected a snapshot from node \(origin): \(error)"))
                break
            }
            var h = snapshotHistory
            var answers: [UInt64: String?] = [:]
            for r in replay {
                do {
                    try s.apply(r.event, at: r.at)
                    h.append(HistoryEntry(epoch: s.epoch, at: r.at, origin: r.origin, event: Self.describe(r.event), rejected: nil))
                    if let id = r.request { answers[id] = .some(nil) }
                } catch {
                    if let id = r.request { answers[id] = .some(error.reason) }
                }
            }
            // Requests replayed on the adopted state get that state's answer; those applied
            // before the round's last offer are in the snapshot only if the winner accepted them.
            for id in pendingRequests {
                let answer: String? = answers[id] ?? "the cluster re-synchronised while applying this change: check `lifeboat status` and retry if it is missing"
                out.append(.requestDone(id, rejected: answer))
            }
            pendingRequests = []
            state = s
            reported = [:]
            history = Array(h.suffix(Self.historyLimit))
            roundOpen = false
            synced = true
            sinceLastOffer = nil
            out.append(.persist(state.configuration, version: state.configVersion))
            out.append(.log("synced from node \(origin): epoch \(state.epoch), configuration version \(state.configVersion)"))
            elect(previous: snapshotLeader, now: now, &out)
        }
        return out
    }

    /// This node's libquorum view changed. The leader of record reports it to the group
    /// (one reporter per partition: no flapping from nodes still joining), and reconciles
    /// host membership with Corosync's own member list (`corosyncMembers`): a host whose
    /// lifeboatd is stopped is still alive while its corosync is a member, and its later
    /// loss is only visible here, not in the CPG group it already left.
    public mutating func localQuorumChanged(_ quorate: Bool, members: [UInt32]? = nil, now: Double) -> [Output] {
        localQuorate = quorate
        if let members {
            corosyncMembers = Set(members)
            // This list is newer than any node-down CPG reported before it: a node it lists
            // is back (its corosync at least).
            nodesDown.subtract(members)
        }
        var out: [Output] = []
        guard synced, leader == nodeID else { return out }
        if state.quorate != quorate {
            out.append(.send(WireMessage(.event(.quorum(quorate: quorate), at: now, request: nil))))
        }
        reconcileHostMembership(now: now, &out)
        return out
    }

    /// Whether a node is alive, as far as this node knows: a lifeboatd member of the group
    /// is; otherwise libquorum's member list decides. A node CPG reported down counts as
    /// lost only once that list (which comes with its quorum flag, on its own channel) no
    /// longer has it: until then the list and `localQuorate` may be from before the change,
    /// and a minority must not take the other side for lost. nil: unknown, nothing reported.
    func liveness(of id: UInt32) -> Bool? {
        if members.contains(id) { return true }
        guard let listed = corosyncMembers?.contains(id) else { return nil }
        if nodesDown.contains(id) { return listed ? nil : false }
        return listed
    }

    /// Leader only: multicasts `node_lost`/`node_joined` for configured hosts whose state
    /// disagrees with Corosync's member list. Each report is sent once until the state
    /// reflects it (the events are idempotent anyway).
    mutating func reconcileHostMembership(now: Double, _ out: inout [Output]) {
        // Without quorum a partition's view of the other side is only "unreachable": it must
        // not mark healthy hosts lost in a state that may be adopted at the next merge.
        guard synced, leader == nodeID, localQuorate else { return }
        reported = reported.filter { name, member in state.hosts[name]?.member != member }
        for name in state.hostOrder {
            let h = state.hosts[name]!
            guard let alive = liveness(of: h.nodeID), alive != h.member, reported[name] != alive else { continue }
            reported[name] = alive
            let event: Event = alive ? .nodeJoined(host: name) : .nodeLost(host: name)
            out.append(.send(WireMessage(.event(event, at: now, request: nil))))
        }
    }

    /// The winner's snapshot, checked before it is sent: with its history if that fits in
    /// one message, without it otherwise; a state too large even then is logged loudly
    /// (the round then waits for the next membership change).
    func snapshotMessage() -> [Output] {
        for h in [history, []] {
            let m = WireMessage(.snapshot(members: members, state: state, leader: leader, history: h))
            if m.encoded().count <= WireMessage.maxBytes { return [.send(m)] }
        }
        return [.log("ERROR: the state does not fit in one \(WireMessage.maxBytes)-byte message: members cannot sync")]
    }

    /// The leader's plan, empty on every other member.
    public func plan() -> [Action] { isLeader ? Scheduler.plan(state) : [] }

    // MARK: Helpers

    /// Offer ordering: is (a, nodeA) a worse choice than (b, nodeB)?
    static func worse(_ a: Offer, _ nodeA: UInt32, than b: Offer, _ nodeB: UInt32) -> Bool {
        if a.quorate != b.quorate { return !a.quorate }
        if a.configVersion != b.configVersion { return a.configVersion < b.configVersion }
        if a.epoch != b.epoch { return a.epoch < b.epoch }
        return nodeA > nodeB
    }

    mutating func elect(previous: UInt32?, now: Double, _ out: inout [Output]) {
        let next: UInt32? = if let p = previous, members.contains(p) { p } else { members.first }
        leader = next
        guard synced, next == nodeID else { return }
        if previous != nodeID {
            reported = [:]  // reports made in an earlier term may be obsolete
            out.append(.log("this node is now the leader of record"))
            // In-flight actions of a previous leader are re-issued.
            out.append(.send(WireMessage(.event(.leaderChanged, at: now, request: nil))))
        }
        // The leader reports its partition's quorum whenever the record disagrees.
        if state.quorate != localQuorate {
            out.append(.send(WireMessage(.event(.quorum(quorate: localQuorate), at: now, request: nil))))
        }
        reconcileHostMembership(now: now, &out)
    }

    @discardableResult
    mutating func applyLocal(_ event: Event, at: Double, origin: UInt32 = 0, _ out: inout [Output]) -> String? {
        let configBefore = state.configVersion
        var rejected: String? = nil
        do { try state.apply(event, at: at) } catch { rejected = error.reason }
        history.append(HistoryEntry(epoch: state.epoch, at: at, origin: origin, event: Self.describe(event), rejected: rejected))
        if history.count > Self.historyLimit { history.removeFirst(history.count - Self.historyLimit) }
        if state.configVersion != configBefore {
            if case .configure = event {
                // Hosts new to the configuration that already run lifeboatd are members;
                // the leader reports the rest from Corosync's member list.
                for id in members {
                    if let h = state.hostName(nodeID: id), !state.hosts[h]!.member {
                        applyLocal(.nodeJoined(host: h), at: at, origin: origin, &out)
                    }
                }
                reconcileHostMembership(now: at, &out)
            }
            out.append(.persist(state.configuration, version: state.configVersion))
        }
        return rejected
    }

    static func describe(_ event: Event) -> String {
        if case .configure(let c) = event {
            return "{\"configure\":{\"segments\":\(c.segments.count),\"hosts\":\(c.hosts.count),\"instances\":\(c.instances.count)}}"
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(event) else { return event.kind }
        return String(decoding: data, as: UTF8.self)
    }
}

extension Replica {
    /// The Corosync session ended: membership is unknown until the next one reports it, and
    /// this node's state is no longer authoritative (it will sync again).
    public mutating func connectionLost() {
        members = []
        leader = nil
        corosyncMembers = nil
        reported = [:]
        nodesDown = []
        pendingRequests = []
        synced = false
        roundOpen = false
        offers = [:]
        winner = nil
        sinceLastOffer = nil
        localQuorate = false
    }
}
