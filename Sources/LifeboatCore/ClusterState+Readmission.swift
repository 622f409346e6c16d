/// Re-admitting a fenced host that came back: what stands between it and Nova's scheduler.
///
/// Nova refuses to un-force a compute service down while `done` evacuation records remain
/// on its host; the host's nova-compute marks them `completed` as it starts. An evacuation
/// that finishes after the returning nova-compute started (an operator powered the host on
/// in the middle of its recovery: `lab chaos --nova` seed 24) leaves one behind that only a
/// restart of nova-compute clears. The Nova executor says so in its report (attribute
/// `refused_for: done_evacuation_records`); the leader then restarts the host's nova-compute
/// resource through its agent, once per failure of the host, and tries again at once.
extension ClusterState {
    /// The `refused_for` of an `enable_service` report that Nova refused because finished
    /// evacuation records remain on the host.
    public static let doneEvacuationRecords = "done_evacuation_records"

    /// The configured resource that runs nova-compute on `host`: the one named
    /// `nova-compute`, else one whose agent's type is `nova-compute` (`ocf:lifeboat:nova-compute`).
    /// Nil when none is configured (then only an operator can restart it).
    public func novaComputeResource(on host: String) -> String? {
        let mine = resources(on: host)
        let named = mine.first { $0.name == "nova-compute" } ?? mine.first { $0.agent.split(separator: ":").last == "nova-compute" }
        return named?.name
    }

    /// What re-admitting `host` takes next, once nothing else holds it back.
    enum ReadmissionStep: Equatable {
        /// Ask Nova to take it back (the first time, a retry that is due, or right after
        /// its nova-compute was restarted).
        case enable
        /// Restart this resource (nova-compute) on it first.
        case restartNovaCompute(String)
        /// A failed attempt's retry interval has not passed yet.
        case wait
    }

    func readmissionStep(_ host: String) -> ReadmissionStep {
        let h = hosts[host]!
        guard h.readmissionFailed else { return .enable }
        let due = h.readmissionFailedAt.map { now - $0 >= policy.novaRetryInterval } ?? true
        guard let process = novaComputeResource(on: host) else { return due ? .enable : .wait }
        // This failure's last attempt, and its last restart of nova-compute there.
        let since = h.recovery?.detectedAt ?? 0
        let restart = Action.restartProcess(host: host, process: process)
        guard let refusal = actionLog.lastIndex(where: { $0.record.action == .enableService(host: host) }),
            actionLog[refusal].finishedAt >= since,
            actionLog[refusal].report.attributes["refused_for"] == Self.doneEvacuationRecords
        else { return due ? .enable : .wait }
        guard let restarted = actionLog.lastIndex(where: { $0.record.action == restart && $0.finishedAt >= since }) else {
            return .restartNovaCompute(process)
        }
        // Restarted since the refusal: asked again at once. Restarted before it: once per
        // failure; the operator is told and the retries go on.
        if restarted > refusal { return .enable }
        return due ? .enable : .wait
    }
}
