/// A compute host: its static configuration and what the cluster knows of its health.
public struct Host: Hashable, Sendable {
    public var name: String
    public var segment: String
    /// Corosync node id (`nodelist { node { nodeid } }`).
    public var nodeID: UInt32
    public var reserved: Bool
    public var maintenance: Bool
    public var capacity: Capacity
    /// How this host is fenced (configuration).
    public var fencing: FenceTopology = FenceTopology()
    /// How the Masakari API names it (see `RecordIdentity`).
    public var identity = RecordIdentity()
    /// Masakari's `type` and `control_attributes` (informational: Lifeboat fences through
    /// the host's configured fence topology, never through these).
    public var type: String = ""
    public var controlAttributes: String? = nil
    /// Nova's host aggregates it belongs to, and its availability zone (from the
    /// inventory, or the configuration): what HA rules match on.
    public var aggregates: [String] = []
    public var availabilityZone: String? = nil

    /// In the agreed Corosync membership.
    public var member: Bool = true
    /// Not seen in the membership since the cluster (re)started from saved state: subject
    /// to startup fencing once the grace period has passed (`Policy.startupFencing`).
    public var unseen: Bool = false
    /// Resources booked by instances placed here or being evacuated here. Kept in step by
    /// `apply` so that planning never has to scan every instance.
    public var used: Capacity = .zero
    /// State of the nova-compute service as Lifeboat last set it in Nova.
    public var service: ServiceState = .up
    /// Power state as established by fencing (or an operator's confirmation).
    public var fence: FenceState = .none
    /// Health of each monitored process or resource (nova-compute, configured resources),
    /// by name; a name with nothing to say is absent.
    public var processes: [String: ProcessHealth] = [:]
    /// The host recovery in progress, if any (fence → force down → evacuate).
    public var recovery: HostRecovery? = nil
    /// Times at which this host was fenced off, for the flap guard.
    public var fencedAt: [Double] = []
    /// Re-enabling the service after a fence failed: retried after `novaRetryInterval`, and
    /// when the host rejoins again.
    public var readmissionFailed: Bool = false
    public var readmissionFailedAt: Double? = nil
    /// Counts failures of this host; part of notification keys so each failure is told once.
    public var failureCount: Int = 0
    /// Its instances being moved away for maintenance (`lifeboat maintenance HOST on --drain`).
    public var drain: Drain? = nil

    public init(
        name: String, segment: String, nodeID: UInt32, reserved: Bool = false,
        maintenance: Bool = false, capacity: Capacity
    ) {
        self.name = name
        self.segment = segment
        self.nodeID = nodeID
        self.reserved = reserved
        self.maintenance = maintenance
        self.capacity = capacity
    }

    public var free: Capacity { capacity - used }

    /// Processes reported failed, restartable (not blocked), in name order.
    public var failedProcesses: [String] {
        processes.keys.sorted().filter { processes[$0]!.failed && processes[$0]!.blocked == nil }
    }
}

/// The nova-compute service of a host, as Lifeboat set it in Nova.
public enum ServiceState: String, Sendable, CaseIterable {
    case up
    /// Disabled in the scheduler: no new instances land here.
    case disabled
    /// Disabled and forced down: Nova accepts evacuations away from it.
    case forcedDown = "forced_down"
}

/// What fencing established about a host's power.
public enum FenceState: String, Sendable, CaseIterable {
    case none
    /// The fence device confirmed the host is powered off.
    case off
    /// An operator confirmed power-off by hand (like `stonith_admin --confirm`).
    case confirmedByOperator = "confirmed_by_operator"
    /// Fencing failed `fenceAttemptLimit` times: operator attention needed.
    case failed

    /// Power-off is established: evacuation is safe.
    public var isOff: Bool { self == .off || self == .confirmedByOperator }
}

/// Why a host is being recovered.
public enum FailureCause: String, Sendable, CaseIterable {
    /// Left the Corosync membership without a clean leave (crash, hang, network cut).
    case nodeLost = "node_lost"
    /// nova-compute failed more often than the restart limit, or its restart failed.
    case processFailure = "process_failure"
    /// Not seen since the cluster restarted, within the startup grace period.
    case unseenAtStartup = "unseen_at_startup"
    /// An operator asked for it to be fenced.
    case operatorRequest = "operator_request"
    /// A monitor's notification said it stopped (Masakari's `COMPUTE_HOST` `STOPPED`).
    case notification
}

/// One host recovery: fence → force down + disable → evacuate its HA instances.
public struct HostRecovery: Hashable, Sendable {
    public var cause: FailureCause
    public var detectedAt: Double
    /// Set when the first fence action starts: from then on the recovery holds one of the
    /// `maxConcurrentHostRecoveries` slots.
    public var startedAt: Double? = nil
    /// Fence attempts that failed (a re-issue after a leader change is not a new attempt).
    public var fenceAttempts: Int = 0
    /// When the last fence attempt failed (the retry interval counts from it).
    public var fenceFailedAt: Double? = nil
    /// When the last force-down or disable failed (retried after `novaRetryInterval`).
    public var serviceStepFailedAt: Double? = nil
    /// Evacuation candidates as tiers in preference order, fixed when the recovery starts.
    public var targets: [[String]] = []
    public var forceDown: StepState = .pending
    public var disable: StepState = .pending
    /// Finished (everything moved, or left behind with a notification) or given up.
    public var finished: Bool = false
    /// When the host rejoined the membership after it was fenced off: it was powered on
    /// again, so that fence no longer holds, and a later loss is a new failure, fenced again
    /// (found by `Cluster/lab chaos`, seed 1: a host back but not yet re-admitted crashed
    /// again and was never fenced).
    public var rejoinedAt: Double? = nil

    public init(cause: FailureCause, detectedAt: Double) {
        self.cause = cause
        self.detectedAt = detectedAt
    }
}

/// Progress of one recovery step.
public enum StepState: String, Sendable, CaseIterable {
    case pending, done, failed
}
