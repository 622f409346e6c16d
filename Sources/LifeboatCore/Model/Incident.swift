/// An incident: one failure, or one operator intervention, with every step taken for it.
///
/// Incidents are part of the replicated state, opened and resolved by `apply` itself, so
/// every member numbers them the same way and links every history entry to the same one
/// (`Applied.incident`). The durable history (`LifeboatHistory`) stores them with the
/// entries; the state keeps only the open ones.
///
/// Lifecycle: *opened* by the event that starts the failure (or the intervention);
/// *resolved* when Lifeboat's part is over (`outcome`); *closed* when nothing more can be
/// linked to it. A host incident stays open after it is resolved until the host is back
/// in service (its re-admission is the incident's last step), or until a new failure of
/// the host supersedes it.
public struct Incident: Hashable, Sendable {
    public var id: Int
    public var kind: Kind
    /// What links later events to it while it is open: `host:H`, `process:H:P`,
    /// `instance:I`, `segment:S`, `maintenance:H`, `restart:H:P`, `notification:N`.
    public var scope: String
    /// What set it off, in the words of the state: `node_lost`, `unseen_at_startup`,
    /// `process_failure`, `operator_request`, `notification`, `monitor`, `maintenance`,
    /// `resource_restart`, `storm`.
    public var cause: String
    /// What it is about, as the history filters it.
    public var host: String?
    public var segment: String?
    public var instance: String?
    public var process: String?
    public var openedAt: Double
    public var resolvedAt: Double? = nil
    public var outcome: IncidentOutcome? = nil
    public var closedAt: Double? = nil
    /// One line for people: what happened, then how it ended.
    public var summary: String
    /// The HA instances the failure took down (a host's, when it was lost; a failed VM):
    /// each one's downtime runs from `openedAt` until it runs again.
    public var instances: [String] = []
    /// Another incident this one follows from (an escalated process failure) or that a
    /// notification followed.
    public var related: Int? = nil

    public init(id: Int, kind: Kind, scope: String, cause: String, openedAt: Double, summary: String) {
        self.id = id
        self.kind = kind
        self.scope = scope
        self.cause = cause
        self.openedAt = openedAt
        self.summary = summary
    }

    public enum Kind: String, Sendable, CaseIterable {
        /// A host left the membership (crash, hang, cut off), was not seen after a cold
        /// start, or its nova-compute failed past its restart limit.
        case hostLost = "host_lost"
        /// A monitored process (nova-compute, a configured resource) failed on a healthy host.
        case processFailed = "process_failed"
        /// A VM failed on a healthy host.
        case vmFailed = "vm_failed"
        /// A notification (Masakari's API) reported a failure.
        case notification
        /// The storm guard halted automatic recovery in a segment.
        case stormGuard = "storm_guard"
        /// An operator asked for something: a fence, a maintenance window, a restart.
        case operatorAction = "operator"
    }

    public var isResolved: Bool { outcome != nil }
}

/// How an incident ended.
public enum IncidentOutcome: String, Sendable, CaseIterable {
    /// Everything it took down runs again (moved, restarted), or the intervention is done.
    case recovered
    /// Some of what it took down runs again, some was left behind (no room, errors).
    case partial
    /// Lifeboat could not recover it: an operator has to act.
    case failed
    /// It healed before Lifeboat acted (the host came back before it was fenced, the
    /// process runs again).
    case cancelled
    /// Nothing to recover (a notification about something healthy or unknown).
    case ignored
    /// Handed on to a larger recovery (a process failure past its limit became a host
    /// recovery: see the incident it names in `related`).
    case escalated
    /// A later failure of the same thing superseded it before it was resolved.
    case superseded
}

/// What `ClusterState.apply` reports about an applied event: the incident it belongs to,
/// and the incidents it opened, resolved or closed (their new values).
public struct Applied: Hashable, Sendable {
    public var incident: Int? = nil
    public var incidents: [Incident] = []
    public init(incident: Int? = nil, incidents: [Incident] = []) {
        self.incident = incident
        self.incidents = incidents
    }
}
