/// A notification for the operator: why automatic recovery stopped or left something out.
public struct Notice: Hashable, Sendable {
    /// Unique per occurrence (includes the failure's sequence number), so each condition
    /// is told once and a later, new occurrence is told again.
    public var key: String
    public var kind: Kind
    public var reason: String
    public var host: String?
    public var instance: String?
    public var segment: String?

    public init(
        kind: Kind, key: String, reason: String, host: String? = nil, instance: String? = nil,
        segment: String? = nil
    ) {
        self.kind = kind
        self.key = "\(kind.rawValue):\(key)"
        self.reason = reason
        self.host = host
        self.instance = instance
        self.segment = segment
    }

    /// A notice read back from its recorded form: `key` already carries its kind prefix.
    public init(recordedKey key: String, kind: Kind, reason: String, host: String?, instance: String?, segment: String?) {
        self.kind = kind
        self.key = key
        self.reason = reason
        self.host = host
        self.instance = instance
        self.segment = segment
    }

    public enum Kind: String, Sendable, CaseIterable {
        case quorumLost = "quorum_lost"
        case stormHalted = "storm_halted"
        case segmentDisabled = "segment_disabled"
        case fenceFailed = "fence_failed"
        case flapping
        case forceDownFailed = "force_down_failed"
        case serviceStepFailed = "service_step_failed"
        case noCapacity = "no_capacity"
        case evacuationFailed = "evacuation_failed"
        case evacuationInterrupted = "evacuation_interrupted"
        case instanceRestartLimit = "instance_restart_limit"
        case instanceNotHA = "instance_not_ha"
        case hostUnseen = "host_unseen"
        case resourceBlocked = "resource_blocked"
        /// A drain could not move an instance: it keeps running where it is.
        case drainBlocked = "drain_blocked"
        /// A drain ended: the host is empty and safe to work on, or what is left and why.
        case drainFinished = "drain_finished"
    }
}

/// A notice as recorded in the cluster's history.
public struct RecordedNotice: Hashable, Sendable {
    public var at: Double
    public var notice: Notice
    public init(at: Double, notice: Notice) {
        self.at = at
        self.notice = notice
    }
}
