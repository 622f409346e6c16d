/// Everything that can change the cluster state. Every member applies the same events in
/// the same (Corosync agreed) order, so every member holds the same `ClusterState`.
public enum Event: Hashable, Sendable, Codable {
    // Membership and quorum, from Corosync.
    /// The host left the membership without a clean leave (crash, hang, cut off).
    case nodeLost(host: String)
    /// The host is back in the membership.
    case nodeJoined(host: String)
    case quorum(quorate: Bool)

    // Monitors on the hosts.
    case processFailed(host: String, process: String)
    /// The monitor saw a failed process running again without our restart.
    case processRecovered(host: String, process: String)
    case instanceFailed(instance: String)

    // Operator commands (configuration changes need quorum).
    case maintenance(host: String, on: Bool)
    /// The operator confirms by hand that the host is powered off.
    case fenceConfirmedByOperator(host: String)
    case segmentEnabled(segment: String, on: Bool)
    case reserved(host: String, on: Bool)
    case haTag(instance: String, on: Bool)
    /// Lift the storm guard's halt on a segment.
    case stormReset(segment: String)
    /// Replace the configuration (segments, hosts, instances, policy).
    case configure(ClusterConfiguration)

    /// A new leader took over: actions the old one started and did not finish are
    /// re-issued (executors are idempotent).
    case leaderChanged

    // The leader's own record of its work.
    case actionStarted(Action)
    case actionFinished(key: String, outcome: Outcome)

    /// The event's name in scenario files.
    public var kind: String {
        switch self {
        case .nodeLost: "node_lost"
        case .nodeJoined: "node_joined"
        case .quorum: "quorum"
        case .processFailed: "process_failed"
        case .processRecovered: "process_recovered"
        case .instanceFailed: "instance_failed"
        case .maintenance: "maintenance"
        case .fenceConfirmedByOperator: "fence_confirmed_by_operator"
        case .segmentEnabled: "segment_enabled"
        case .reserved: "reserved"
        case .haTag: "ha"
        case .stormReset: "storm_reset"
        case .configure: "configure"
        case .leaderChanged: "leader_changed"
        case .actionStarted: "action_started"
        case .actionFinished: "action_finished"
        }
    }

    /// Configuration changes are refused without quorum.
    public var isConfigurationChange: Bool {
        switch self {
        case .maintenance, .segmentEnabled, .reserved, .haTag, .stormReset, .configure: true
        default: false
        }
    }
}

/// Why an event was refused. The state is left exactly as it was.
public struct EventRejected: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
