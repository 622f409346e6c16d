/// Everything that can change the cluster state. Every member applies the same events in
/// the same (Corosync agreed) order, so every member holds the same `ClusterState`.
public enum Event: Hashable, Sendable {
    // Membership and quorum, from Corosync.
    /// The host left the membership without a clean leave (crash, hang, cut off).
    case nodeLost(host: String)
    /// The host is back in the membership.
    case nodeJoined(host: String)
    /// Startup fencing: a host not seen since the cluster (re)started, past the grace
    /// period (`Policy.startupGrace`), is treated as lost (Pacemaker's `startup-fencing`).
    case nodeUnseen(host: String)
    case quorum(quorate: Bool)

    // Monitors on the hosts.
    case processFailed(host: String, process: String)
    /// The monitor saw a failed process running again without our restart.
    case processRecovered(host: String, process: String)
    case instanceFailed(instance: String)
    /// A resource's agent answered with a hard error (bad parameters, not installed, not
    /// configured, no permission): restarting cannot help, so it is not restarted until an
    /// operator cleans it up.
    case resourceBlocked(host: String, process: String, reason: String)
    /// The operator clears a resource's failures and block (`crm_resource --cleanup`).
    case resourceCleanup(host: String, process: String)
    /// The operator asks for a resource to be restarted on its host (not a failure).
    case resourceRestart(host: String, process: String)

    // Operator commands (configuration changes and confirmations need quorum).
    case maintenance(host: String, on: Bool)
    /// Drain a host in maintenance: live-migrate its instances to other hosts of its
    /// segment (on), or stop starting new moves (off).
    case drain(host: String, on: Bool)
    /// Every host of the segment into maintenance, or out of it.
    case segmentMaintenance(segment: String, on: Bool)
    /// The operator confirms by hand that the host is powered off.
    case fenceConfirmedByOperator(host: String)
    /// The operator asks for the host to be fenced (like `stonith_admin --fence`): it is
    /// recovered as a lost host (fence, force down, evacuate).
    case fenceRequested(host: String)
    case segmentEnabled(segment: String, on: Bool)
    case reserved(host: String, on: Bool)
    /// The instance's own tag (Nova's `HA_Enabled`): on, off (an explicit opt-out), or
    /// none (HA rules and the policy decide).
    case haTag(instance: String, tag: HATag)
    /// Adds or replaces an HA rule (by name).
    case haRuleSaved(HARule)
    case haRuleRemoved(name: String)
    /// Lift the storm guard's halt on a segment.
    case stormReset(segment: String)
    /// Replace the configuration (segments, hosts, instances, policy).
    case configure(ClusterConfiguration)
    /// Masakari's segment create or update (by `identity.uuid`): name, recovery method,
    /// enabled, description, service type. Health fields of the value are ignored.
    case segmentSaved(Segment)
    /// Masakari's segment delete: its hosts leave the configuration with it (kept as
    /// detached hosts, so that they can be added again with their node id and fencing).
    case segmentRemoved(uuid: String)
    /// Masakari's host create (a detached host of the cluster joins a segment) or update.
    case hostSaved(HostRegistration)
    /// Masakari's host delete: the host leaves its segment and Lifeboat's protection; its
    /// node id and fence topology are kept as a detached host.
    case hostRemoved(uuid: String)
    /// A notification from a monitor or an operator (Masakari's `POST /notifications`):
    /// an input like a monitor's, recorded with the recovery it sets off.
    case notificationReceived(NotificationRecord)
    /// The leader's view of Nova: instances added, removed, moved, resized, tagged; host
    /// capacities. Never touches segments, reserves or maintenance.
    case inventory([InventoryChange])

    /// A leader takes a new term. What the previous term left in flight is dropped and
    /// planned again (executors are idempotent); its late results are stale.
    case leaderChanged(holder: TermHolder)
    /// The term holder's clock, when it has had nothing else to say for a while: keeps
    /// cluster time moving (see `ClusterState.now`). Not part of the history.
    case clock

    // The leader's own record of its work.
    /// Sent by the holder of `term`; refused unless `term` is the current term.
    case actionStarted(Action, term: UInt64)
    /// The report of one attempt; applied only if that attempt is the one in flight.
    case actionFinished(key: String, attempt: Attempt, report: ActionReport)
    /// The serial console captured while an attempt ran, added to its record once the
    /// capture ends (the result itself is not held back for it).
    case consoleCaptured(attempt: Attempt, console: ConsoleCapture)

    /// The event's name in scenario files and on the wire.
    public var kind: String {
        switch self {
        case .nodeLost: "node_lost"
        case .nodeJoined: "node_joined"
        case .nodeUnseen: "node_unseen"
        case .quorum: "quorum"
        case .processFailed: "process_failed"
        case .processRecovered: "process_recovered"
        case .instanceFailed: "instance_failed"
        case .resourceBlocked: "resource_blocked"
        case .resourceCleanup: "resource_cleanup"
        case .resourceRestart: "resource_restart"
        case .maintenance: "maintenance"
        case .drain: "drain"
        case .segmentMaintenance: "segment_maintenance"
        case .fenceConfirmedByOperator: "fence_confirmed_by_operator"
        case .fenceRequested: "fence_requested"
        case .segmentEnabled: "segment_enabled"
        case .reserved: "reserved"
        case .haTag: "ha"
        case .haRuleSaved: "ha_rule_saved"
        case .haRuleRemoved: "ha_rule_removed"
        case .stormReset: "storm_reset"
        case .configure: "configure"
        case .inventory: "inventory"
        case .segmentSaved: "segment_saved"
        case .segmentRemoved: "segment_removed"
        case .hostSaved: "host_saved"
        case .hostRemoved: "host_removed"
        case .notificationReceived: "notification"
        case .leaderChanged: "leader_changed"
        case .clock: "clock"
        case .actionStarted: "action_started"
        case .actionFinished: "action_finished"
        case .consoleCaptured: "console_captured"
        }
    }

    /// Every kind, as on the wire.
    public static let allKinds = [
        "node_lost", "node_joined", "node_unseen", "quorum", "process_failed", "process_recovered", "instance_failed",
        "maintenance", "fence_confirmed_by_operator", "fence_requested", "segment_enabled", "reserved", "ha", "storm_reset", "configure", "inventory",
        "leader_changed", "clock", "action_started", "action_finished", "console_captured",
        "resource_blocked", "resource_cleanup", "resource_restart",
        "segment_saved", "segment_removed", "host_saved", "host_removed", "notification", "ha_rule_saved", "ha_rule_removed", "drain", "segment_maintenance",
    ]

    /// `lifeboat ha INSTANCE on|off`: the tag set on or off.
    public static func haTag(instance: String, on: Bool) -> Event { .haTag(instance: instance, tag: on ? .on : .off) }

    /// Configuration changes are refused without quorum.
    public var isConfigurationChange: Bool {
        switch self {
        case .maintenance, .segmentEnabled, .reserved, .haTag, .stormReset, .configure, .segmentSaved, .segmentRemoved, .hostSaved,
            .hostRemoved, .haRuleSaved, .haRuleRemoved, .drain, .segmentMaintenance:
            true
        default: false
        }
    }

    /// Refused without quorum: configuration changes, an operator's word that a host is
    /// off (a minority must not unblock an evacuation), and every start but a notice.
    public var requiresQuorum: Bool {
        switch self {
        case .fenceConfirmedByOperator, .fenceRequested, .resourceCleanup, .resourceRestart, .notificationReceived: true
        case .actionStarted(let a, _): if case .notify = a { false } else { true }
        default: isConfigurationChange
        }
    }
}

/// Why an event was refused. The state is left exactly as it was.
public struct EventRejected: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String
    /// A result of an attempt that is no longer in flight (an old leader's, a cancelled
    /// one): recorded in the history as stale, not as an error.
    public var stale: Bool
    public init(_ reason: String, stale: Bool = false) {
        self.reason = reason
        self.stale = stale
    }
    public var description: String { reason }
}
