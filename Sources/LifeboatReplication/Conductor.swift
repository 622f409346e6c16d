import LifeboatCore

/// The leader's bookkeeping of its own work, as a value with no I/O: which starts it sent
/// and has not seen applied, which attempts its executors run, which notices it told. The
/// daemon's actor (the shell) feeds it the replicated state and this node's view after
/// every input, and carries out the directives it returns.
///
/// Rules it keeps:
/// - An action is started by multicasting `action_started` with the term this node holds;
///   the executor runs only once the start is applied, and it runs the *recorded* attempt
///   (`ClusterState.inFlight`), never a copy of the plan.
/// - A start that the cluster refused (or that a sync round swallowed) is forgotten at
///   once, so the step is planned again: nothing waits for ever on a lost message.
/// - Every attempt of this node's term that is in flight and not running is run (a start
///   applied while this node briefly could not act is not left orphaned).
/// - Losing the term, or quorum, cancels every running executor; a disagreement between
///   quorum and membership only holds new starts back, and so does a sync round (a node
///   joined): the term is held through it, and what runs goes on unless the round ends with
///   the term lost. (Cancelling there made the leader re-issue an evacuation whose request
///   Nova had not yet recorded: the same server evacuated twice, `lab chaos --nova` seed 24.)
/// - At most one executor per key, across cancellation: a new attempt of a key waits until
///   the previous attempt's executor has ended and its result is applied.
public struct Conductor: Sendable {
    /// What this node may do, from `Replica`.
    public struct View: Sendable, Equatable {
        /// The term this node holds as leader of record (nil: it holds none).
        public var term: UInt64?
        /// Both this node's libquorum view and the replicated state say quorate.
        public var quorate: Bool
        /// libquorum's member list agrees with the CPG membership.
        public var agrees: Bool
        /// Action kinds this node has an executor for.
        public var executable: Set<String>
        /// A sync round is under way (a node joined): this node keeps `term` through it but
        /// neither plans, starts nor notifies until the round ends.
        public var syncing: Bool

        public init(term: UInt64?, quorate: Bool, agrees: Bool, executable: Set<String>, syncing: Bool = false) {
            self.term = term
            self.quorate = quorate
            self.agrees = agrees
            self.executable = executable
            self.syncing = syncing
        }

        public var mayNotify: Bool { term != nil && !syncing }
        public var mayAct: Bool { mayNotify && quorate && agrees }
    }

    public enum Directive: Sendable, Equatable {
        /// Multicast this event; its answer comes back as `requestDone(request, …)`.
        case send(Event, request: UInt64)
        /// Run the executor for this recorded attempt.
        case execute(ActionRecord)
        /// Cancel the executor of this attempt (it still reports, with outcome `cancelled`).
        case cancel(ActionRecord, reason: String)
        case log(String)
    }

    /// Requests of the conductor are numbered from here (the shell's own start at 1).
    public static let firstRequest: UInt64 = 1 << 40

    /// Key → request of a start sent and not yet answered.
    public private(set) var starts: [String: UInt64] = [:]
    /// Notice key → request of a notice sent and not yet answered.
    public private(set) var notices: [String: UInt64] = [:]
    /// Key → attempt an executor of this node is running.
    public private(set) var running: [String: ActionRecord] = [:]
    /// Keys whose executor was told to cancel.
    public private(set) var cancelling: Set<String> = []
    /// Key → attempt whose result was sent and is not yet applied.
    public private(set) var finishing: [String: Attempt] = [:]
    /// Keys the leader decided but no executor on this node handles (for `status`).
    public private(set) var unexecutable: Set<String> = []
    var requests: [UInt64: String] = [:]
    var nextRequest = Conductor.firstRequest

    public init() {}

    /// After every input: cancel what may no longer run, run what was recorded, start what
    /// the plan wants.
    public mutating func step(_ state: ClusterState, _ view: View) -> [Directive] {
        var out: [Directive] = []
        finishing = finishing.filter { state.inFlight[$0.key]?.attempt == $0.value }
        for (key, r) in running.sorted(by: { $0.key < $1.key }) where !cancelling.contains(key) {
            let why: String? =
                if view.term != r.attempt.term { "this node no longer holds term \(r.attempt.term)" }
                else if !view.quorate { "quorum was lost" }
                else if state.inFlight[key]?.attempt != r.attempt { "the attempt is no longer in flight" }
                else { nil }
            if let why {
                cancelling.insert(key)
                out.append(.cancel(r, reason: why))
            }
        }
        guard let term = view.term else {
            starts = [:]
            notices = [:]
            unexecutable = []
            return out
        }
        // Through a sync round what runs goes on, and nothing new: the round's outcome (the
        // term kept or lost) decides in the next step.
        if view.syncing { return out }
        if view.mayAct {
            for key in state.inFlight.keys.sorted() {
                let r = state.inFlight[key]!
                if LocalConductor.kinds.contains(r.action.kind) {
                    // Run by the host concerned; one that left the membership never reports.
                    if r.attempt.term == term, finishing[key] == nil, let h = r.action.host, state.hosts[h]?.member == false {
                        finishing[key] = r.attempt
                        let report = ActionReport(.failed, message: "\(h) left the membership before it reported")
                        _ = send(.actionFinished(key: key, attempt: r.attempt, report: report), for: "finish:" + key, &out)
                    }
                    continue
                }
                guard r.attempt.term == term, running[key] == nil, finishing[key] == nil,
                    view.executable.contains(r.action.kind)
                else { continue }
                starts[key] = nil
                running[key] = r
                out.append(.execute(r))
            }
        }
        var waiting: Set<String> = []
        for action in Scheduler.plan(state) {
            switch action {
            case .notify(let n):
                guard notices[n.key] == nil else { continue }
                notices[n.key] = send(.actionStarted(action, term: term), for: "notice:" + n.key, &out)
                out.append(.log("NOTICE: \(n.reason)"))
            default:
                guard view.mayAct else { continue }
                let key = action.key
                guard starts[key] == nil, running[key] == nil, finishing[key] == nil, state.inFlight[key] == nil else { continue }
                guard view.executable.contains(action.kind) else {
                    waiting.insert(key)
                    if !unexecutable.contains(key) {
                        out.append(.log("leader decided \(key), but no \(action.kind) executor is configured on this node: it waits"))
                    }
                    continue
                }
                starts[key] = send(.actionStarted(action, term: term), for: key, &out)
            }
        }
        unexecutable = waiting
        return out
    }

    /// The cluster applied (or refused) one of this conductor's messages. Returns false
    /// for a request that is not the conductor's.
    public mutating func requestDone(_ id: UInt64, rejected: String?) -> Bool {
        guard let key = requests.removeValue(forKey: id) else { return id >= Self.firstRequest }
        if key.hasPrefix("finish:") {
            // A result the cluster did not take (a sync round swallowed it) leaves the attempt
            // in flight: `step` runs it again (executors are idempotent).
            if rejected != nil { finishing[String(key.dropFirst(7))] = nil }
        } else if key.hasPrefix("notice:") {
            if notices[String(key.dropFirst(7))] == id { notices[String(key.dropFirst(7))] = nil }
        } else if starts[key] == id {
            // Accepted: the record is in flight and `step` runs it. Refused: planned again.
            starts[key] = nil
        }
        return true
    }

    /// An executor ended: its report goes to the cluster, whatever this node is now (a
    /// result of an attempt no longer in flight is recorded as stale).
    public mutating func executorFinished(_ r: ActionRecord, _ report: ActionReport) -> [Directive] {
        guard running[r.key]?.attempt == r.attempt else { return [] }
        running[r.key] = nil
        cancelling.remove(r.key)
        finishing[r.key] = r.attempt
        var out: [Directive] = []
        _ = send(.actionFinished(key: r.key, attempt: r.attempt, report: report), for: "finish:" + r.key, &out)
        return out
    }

    /// The connection to corosync is gone: cancel everything, forget what was sent.
    public mutating func connectionLost() -> [Directive] {
        var out: [Directive] = []
        for (key, r) in running.sorted(by: { $0.key < $1.key }) where !cancelling.contains(key) {
            cancelling.insert(key)
            out.append(.cancel(r, reason: "the connection to corosync was lost"))
        }
        starts = [:]
        notices = [:]
        finishing = [:]
        requests = [:]
        unexecutable = []
        return out
    }

    mutating func send(_ event: Event, for key: String, _ out: inout [Directive]) -> UInt64 {
        let id = nextRequest
        nextRequest += 1
        requests[id] = key
        out.append(.send(event, request: id))
        return id
    }
}
