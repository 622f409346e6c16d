/// How a failover segment chooses evacuation targets (Masakari's four methods, but the
/// target always stays inside the segment).
public enum RecoveryMethod: String, Sendable, CaseIterable {
    /// Any healthy non-reserved host of the segment.
    case auto
    /// Reserved hosts of the segment only.
    case reservedHost = "reserved_host"
    /// Non-reserved hosts first, then reserved hosts.
    case autoPriority = "auto_priority"
    /// Reserved hosts first, then non-reserved hosts.
    case rhPriority = "rh_priority"
}

/// A failover segment: the set of hosts that may take over each other's instances.
public struct Segment: Hashable, Sendable {
    public var name: String
    public var recoveryMethod: RecoveryMethod
    /// A disabled segment gets no automatic recovery and offers no targets.
    public var enabled: Bool
    /// Latched by the storm guard: too many hosts of the segment were lost at once, which
    /// looks like a switch or power failure. Automatic fencing and evacuation stop here
    /// until an operator resets the segment.
    public var stormHalted: Bool = false
    /// Last loss time of each recently lost host, pruned to the storm window: the guard
    /// counts distinct hosts, so one host flapping is not a storm.
    public var recentLosses: [String: Double] = [:]
    /// Number of storms seen: makes each storm's notification distinct.
    public var stormCount: Int = 0
    /// How the Masakari API names it (see `RecordIdentity`).
    public var identity = RecordIdentity()
    /// Masakari's `description` and `service_type` (informational: Lifeboat recovers compute).
    public var description: String? = nil
    public var serviceType: String = ""

    public init(name: String, recoveryMethod: RecoveryMethod, enabled: Bool = true) {
        self.name = name
        self.recoveryMethod = recoveryMethod
        self.enabled = enabled
    }
}
