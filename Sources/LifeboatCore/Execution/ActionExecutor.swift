/// The seam between the leader's decisions and the outside world. An executor carries out
/// the actions of some kinds (the IPMI fencer: `fence`; the Nova client: `force_down`,
/// `disable_service`, `enable_service`, `evacuate`; the OCF runner: `restart_process`) and
/// reports what happened. It must be idempotent: a new leader re-issues what an old one
/// left unfinished.
///
/// Cancellation is Swift task cancellation (the leader lost its term or quorum) plus
/// `abort`, for work blocked outside Swift (a C library call, an agent's process group).
/// A cancelled attempt reports `.cancelled`; its result is then recorded as stale or as
/// "not an attempt", never as a failure.
public protocol ActionExecutor: Sendable {
    /// `Action.kind`s this executor handles.
    var kinds: Set<String> { get }
    func execute(_ action: Action, context: ExecutionContext) async -> ActionReport
    /// The attempt was cancelled: unblock whatever it waits on.
    func abort(_ attempt: Attempt)
}

extension ActionExecutor {
    public func abort(_ attempt: Attempt) {}
}

/// What an executor knows about the attempt it runs, and the check it must call right
/// before every irreversible step (a power-off, an evacuation).
public struct ExecutionContext: Sendable {
    public let attempt: Attempt
    /// Cluster time the attempt was recorded at.
    public let startedAt: Double
    /// After this (monotonic) instant the executor should give up and report `timeout`.
    public let deadline: ContinuousClock.Instant
    let check: @Sendable () -> String?

    /// - Parameter check: nil while this node may still act for `attempt`'s term, else why not.
    public init(attempt: Attempt, startedAt: Double, deadline: ContinuousClock.Instant, check: @escaping @Sendable () -> String?) {
        self.attempt = attempt
        self.startedAt = startedAt
        self.deadline = deadline
        self.check = check
    }

    /// Synchronous: nil only if this node still holds the attempt's term, its partition is
    /// quorate *now* (asked of corosync, not a cached flag), quorum and membership agree,
    /// and the task was not cancelled; otherwise the reason not to proceed.
    public func whyNotLeading() -> String? {
        if Task.isCancelled { return "the attempt was cancelled" }
        return check()
    }

    public var stillLeading: Bool { whyNotLeading() == nil }
}
