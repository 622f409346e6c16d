/// A scenario for `lifeboat simulate`: a cluster, the executor steps that fail, and timed
/// events. The format is the contract in SCENARIOS.md; fields may be added, never renamed.
public struct Scenario: Sendable {
    public var description: String?
    public var segments: [Segment]
    public var hosts: [Host]
    public var instances: [Instance]
    public var policy: Policy
    public var faults: Faults
    /// Extension: how long each action kind takes (seconds; default 0: results come back
    /// at the time the action starts).
    public var durations: [String: Double]
    public var events: [TimedEvent]
    /// Extension: `cluster.resources` (restart limits and `on_fail` per resource).
    public var resources: [Resource] = []
    /// Extension: `cluster.ha_rules` (HA by project, aggregate, zone, host or segment).
    public var haRules: [HARule] = []

    public init(
        description: String? = nil, segments: [Segment], hosts: [Host], instances: [Instance],
        policy: Policy = Policy(), faults: Faults = Faults(), durations: [String: Double] = [:],
        events: [TimedEvent]
    ) {
        self.description = description
        self.segments = segments
        self.hosts = hosts
        self.instances = instances
        self.policy = policy
        self.faults = faults
        self.durations = durations
        self.events = events
    }

    public var initialState: ClusterState {
        var s = ClusterState(segments: segments, hosts: hosts, instances: instances, policy: policy)
        s.resources = resources
        s.haRules = haRules
        s.refreshProtection()
        return s
    }
}

public struct TimedEvent: Hashable, Sendable {
    public var at: Double
    public var event: Event
    public init(at: Double, _ event: Event) {
        self.at = at
        self.event = event
    }
}

/// What a simulated executor does for a named host or instance.
public enum FaultMode: String, Sendable, CaseIterable {
    /// Every attempt fails.
    case fail
    /// Every attempt times out.
    case timeout
    /// The first attempt fails, later ones succeed.
    case failOnce = "fail_once"
    /// `enable_service` only: refused as Nova refuses while finished evacuation records
    /// remain on the host, until a `restart_process` there succeeded.
    case refusedUntilRestart = "refused_until_restart"
}

/// Executor steps that fail in a simulation; every step not named succeeds.
public struct Faults: Hashable, Sendable {
    public var fence: [String: FaultMode] = [:]
    public var processRestart: [String: FaultMode] = [:]
    public var evacuate: [String: FaultMode] = [:]
    public var instanceRestart: [String: FaultMode] = [:]
    public var forceDown: [String: FaultMode] = [:]
    public var disableService: [String: FaultMode] = [:]
    public var enableService: [String: FaultMode] = [:]
    public var migrate: [String: FaultMode] = [:]
    public init() {}

    /// The fault configured for an action, if any.
    public func mode(for action: Action) -> FaultMode? {
        switch action {
        case .fence(let h): fence[h]
        case .restartProcess(let h, _): processRestart[h]
        case .evacuate(let i, _, _): evacuate[i]
        case .migrate(let i, _, _): migrate[i]
        case .restartInstance(let i, _): instanceRestart[i]
        case .forceDown(let h): forceDown[h]
        case .disableService(let h): disableService[h]
        case .enableService(let h): enableService[h]
        case .notify: nil
        }
    }
}
