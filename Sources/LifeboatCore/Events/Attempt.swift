/// Which execution of an action a record or a result belongs to.
///
/// Every leadership has a term (`ClusterState.term`, raised by each `leader_changed`). A
/// start is recorded with the term of the leader that sent it, and the attempt's `id` is
/// the epoch at which the start was applied: unique in the cluster's history. A result
/// names its attempt, and is applied only while exactly that attempt is in flight for its
/// key. A result of any other attempt (an old leader's, a cancelled one) is stale: it goes
/// into the history and changes nothing.
public struct Attempt: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var term: UInt64
    public var id: UInt64

    public init(term: UInt64, id: UInt64) {
        self.term = term
        self.id = id
    }

    public static func < (a: Attempt, b: Attempt) -> Bool { (a.term, a.id) < (b.term, b.id) }
    public var description: String { "\(term).\(id)" }
}

/// An action recorded as started: what, which attempt, when, and by which leader.
public struct ActionRecord: Hashable, Sendable {
    public var action: Action
    public var attempt: Attempt
    /// Cluster time of the start.
    public var startedAt: Double
    /// Node id of the leader whose term recorded it (nil before any leader took a term).
    public var leader: UInt32?
    /// The incident this step belongs to (`Incident.id`), if any.
    public var incident: Int? = nil

    public init(action: Action, attempt: Attempt, startedAt: Double, leader: UInt32?) {
        self.action = action
        self.attempt = attempt
        self.startedAt = startedAt
        self.leader = leader
    }

    public var key: String { action.key }
}

/// A finished action as kept in the replicated state: the record of its start and the
/// executor's report. Bounded by `Policy.actionLogRetention`; what is pruned is counted.
public struct CompletedAction: Hashable, Sendable {
    public var record: ActionRecord
    public var finishedAt: Double
    public var report: ActionReport

    public init(record: ActionRecord, finishedAt: Double, report: ActionReport) {
        self.record = record
        self.finishedAt = finishedAt
        self.report = report
    }
}

/// The leader that holds the current term: a node and the incarnation of its lifeboatd
/// (a new process, or a reconnection to corosync, is a new incarnation and must take a new
/// term: its predecessor's executors are gone).
public struct TermHolder: Hashable, Sendable, CustomStringConvertible {
    public var node: UInt32
    public var incarnation: UInt64

    public init(node: UInt32, incarnation: UInt64) {
        self.node = node
        self.incarnation = incarnation
    }

    public var description: String { "node \(node) (incarnation \(incarnation))" }
}
