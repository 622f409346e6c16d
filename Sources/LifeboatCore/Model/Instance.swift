/// A Nova instance (a "pet" VM) as Lifeboat tracks it.
public struct Instance: Hashable, Sendable {
    public var id: String
    public var host: String
    /// Protected: restarted and evacuated. Derived by `apply` from `tag`, the HA rules and
    /// the policy (`ClusterState.protection(of:)`).
    public var ha: Bool
    /// Its own tag, as users set it in Nova.
    public var tag: HATag
    /// The project (tenant) that owns it, when the inventory knows it.
    public var project: String? = nil
    /// Higher is evacuated first.
    public var priority: Int
    public var flavor: Capacity
    public var state: InstanceState = .active
    /// Failures counted toward `instanceRestartLimit`.
    public var failures: Int = 0
    public var lastFailureAt: Double? = nil
    /// Where an evacuation in flight is taking it (capacity is booked there).
    public var evacuatingTo: String? = nil
    /// When a leader change dropped its evacuation's attempt unfinished: that leader's
    /// request may still be on its way to Nova, which takes a second one all the same, so the
    /// re-issue lets it land first (`NovaExecutor.evacuate`). Cleared when the evacuation ends.
    public var evacuationInterruptedAt: Double? = nil
    /// Evacuations of this instance that failed in the current failure of its host, and
    /// the targets they failed on (not chosen again for it).
    public var evacuationFailures: Int = 0
    public var failedTargets: [String] = []
    /// When Lifeboat last gave up recovering it by itself (evacuations failed too often, or
    /// no room): it is placed again `policy.evacuationRetryInterval` later while its host
    /// stays down.
    public var gaveUpAt: Double? = nil
    /// Left in error where it is when Lifeboat gave up recovering it: restarted in place
    /// once its host is back in the scheduler (`Scheduler.planStrandedRestarts`).
    public var givenUpOn: Bool { state == .error && gaveUpAt != nil }

    public init(id: String, host: String, ha: Bool, priority: Int = 0, flavor: Capacity) {
        self.id = id
        self.host = host
        self.ha = ha
        self.tag = ha ? .on : .none
        self.priority = priority
        self.flavor = flavor
    }
}

public enum InstanceState: String, Sendable, CaseIterable {
    case active
    /// Reported failed by its monitor; a restart in place is due.
    case failed
    /// Being evacuated.
    case evacuating
    /// Being live-migrated off a host that is drained for maintenance (running all along).
    case migrating
    /// Powered off with its host and not moved (not HA-tagged).
    case stopped
    /// Could not be recovered automatically; an operator was notified.
    case error
}
