import LifeboatCore

/// The seam between the leader's decisions and the outside world. An executor carries out
/// the actions of some kinds (the IPMI fencer: `fence`; the Nova client: `force_down`,
/// `disable_service`, `enable_service`, `evacuate`; the OCF runner: `restart_process`) and
/// reports an outcome. It must be idempotent: a new leader re-issues what an old one left
/// unfinished.
public protocol ActionExecutor: Sendable {
    /// `Action.kind`s this executor handles.
    var kinds: Set<String> { get }
    func execute(_ action: Action) async -> Outcome
}
