import Synchronization

/// The replicated state as the daemon last saw it, readable from executors' threads:
/// executors look up what they need when an attempt starts (a host's fence levels, the
/// policy) from the same state every member holds.
///
/// It holds the state *without its notification records* (`forExecutors`): no executor
/// reads them, and a second reference to that growing array would make the daemon copy
/// all of it on the next notification it applies.
public final class SharedClusterState: Sendable {
    private let value = Mutex<(state: ClusterState?, node: UInt32?)>((nil, nil))

    private let sink = Mutex<(@Sendable (Event) async -> Void)?>(nil)

    public init() {}

    /// Where executors send events of their own (a console capture that ended after the
    /// result, an inventory refresh): the daemon multicasts them. `post` returns once the
    /// event is queued for the group, so what an executor posts before it reports reaches
    /// every member before its result.
    public func setSink(_ f: @escaping @Sendable (Event) async -> Void) { sink.withLock { $0 = f } }

    public func post(_ event: Event) async { await sink.withLock { $0 }?(event) }

    public func update(_ state: ClusterState, node: UInt32) { value.withLock { $0 = (state.forExecutors, node) } }

    public var state: ClusterState? { value.withLock { $0.state } }

    /// Whether this node has applied the result of `attempt` (its finished record is kept).
    public func hasFinished(_ attempt: Attempt) -> Bool {
        value.withLock { $0.state?.finishedActionIndex(attempt) != nil }
    }
    /// This node's Corosync node id.
    public var node: UInt32? { value.withLock { $0.node } }
}
