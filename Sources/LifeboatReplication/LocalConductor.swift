import LifeboatCore

/// The other half of the `Conductor`: actions the leader starts but the host they concern
/// carries out, because what they act on is local to it (`restart_process`: the agent's
/// stop and start run where the process lives). Every node runs one; it executes only the
/// recorded attempts of the current term whose host is this node, and cancels a run once its
/// attempt is no longer in flight (a new term dropped it, the leader recorded a failure).
/// Pure, like the `Conductor`: the daemon carries out the directives.
public struct LocalConductor: Sendable {
    /// Action kinds executed by the host they concern.
    public static let kinds: Set<String> = ["restart_process"]
    public static let firstRequest: UInt64 = 1 << 50

    public private(set) var running: [String: ActionRecord] = [:]
    public private(set) var cancelling: Set<String> = []
    public private(set) var finishing: [String: Attempt] = [:]
    var requests: [UInt64: String] = [:]
    var nextRequest = LocalConductor.firstRequest

    public init() {}

    /// - Parameters:
    ///   - host: this node's host name in the configuration (nil: not configured).
    ///   - synced: this node's state is the cluster's (not a stale copy).
    ///   - executable: the local kinds this node has an executor for.
    public mutating func step(_ state: ClusterState, host: String?, synced: Bool, executable: Set<String>) -> [Conductor.Directive] {
        var out: [Conductor.Directive] = []
        finishing = finishing.filter { state.inFlight[$0.key]?.attempt == $0.value }
        for (key, r) in running.sorted(by: { $0.key < $1.key }) where !cancelling.contains(key) {
            if state.inFlight[key]?.attempt != r.attempt {
                cancelling.insert(key)
                out.append(.cancel(r, reason: "the attempt is no longer in flight"))
            }
        }
        guard synced, let host else { return out }
        for key in state.inFlight.keys.sorted() {
            let r = state.inFlight[key]!
            guard Self.kinds.contains(r.action.kind), executable.contains(r.action.kind), r.action.host == host,
                r.attempt.term == state.term, running[key] == nil, finishing[key] == nil
            else { continue }
            running[key] = r
            out.append(.execute(r))
        }
        return out
    }

    public mutating func executorFinished(_ r: ActionRecord, _ report: ActionReport) -> [Conductor.Directive] {
        guard running[r.key]?.attempt == r.attempt else { return [] }
        running[r.key] = nil
        cancelling.remove(r.key)
        finishing[r.key] = r.attempt
        let id = nextRequest
        nextRequest += 1
        requests[id] = r.key
        return [.send(.actionFinished(key: r.key, attempt: r.attempt, report: report), request: id)]
    }

    /// Returns false for a request that is not this conductor's.
    public mutating func requestDone(_ id: UInt64, rejected: String?) -> Bool {
        guard let key = requests.removeValue(forKey: id) else { return false }
        // Not taken (a sync round swallowed it): still in flight, so it runs again.
        if rejected != nil { finishing[key] = nil }
        return true
    }

    public mutating func connectionLost() -> [Conductor.Directive] {
        var out: [Conductor.Directive] = []
        for (key, r) in running.sorted(by: { $0.key < $1.key }) where !cancelling.contains(key) {
            cancelling.insert(key)
            out.append(.cancel(r, reason: "the connection to corosync was lost"))
        }
        finishing = [:]
        requests = [:]
        return out
    }
}
