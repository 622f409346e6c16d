/// A resource an operator wants kept running on compute hosts (nova-compute, libvirtd, an
/// agent), as Pacemaker's CIB holds primitives: an OCF agent with parameters, a monitor
/// interval, timeouts, a restart limit (`migration-threshold`) and a `failure-timeout`.
/// Part of the replicated configuration, so every node and the leader agree on it; each
/// host's own lifeboatd monitors and restarts the resources that apply to it.
public struct Resource: Hashable, Sendable {
    /// Unique name; the `process` of `process_failed` and of `restart_process`.
    public var name: String
    /// `ocf:PROVIDER:TYPE`, found under `OCF_ROOT/resource.d/PROVIDER/TYPE`.
    public var agent: String
    /// Hosts it runs on; empty with no `segment`: every host.
    public var hosts: [String] = []
    /// Every host of this segment.
    public var segment: String? = nil
    /// `OCF_RESKEY_<name>` values.
    public var params: [String: String] = [:]
    /// Seconds between monitors.
    public var monitorInterval: Double = 10
    /// Per-action timeouts in seconds; nil: the agent's meta-data, else 20 s.
    public var startTimeout: Double? = nil
    public var stopTimeout: Double? = nil
    public var monitorTimeout: Double? = nil
    /// Restarts in place before `onFail` applies; nil: `Policy.processRestartLimit`.
    public var restartLimit: Int? = nil
    /// Seconds without a failure that forget earlier ones; nil: `Policy.failureTimeout`.
    public var failureTimeout: Double? = nil
    public var onFail: OnFail = .escalate

    /// What happens once the restart limit is passed.
    public enum OnFail: String, Sendable, CaseIterable {
        /// The host is recovered: fenced, forced down and disabled, its HA instances evacuated
        /// (nova-compute and whatever the instances need).
        case escalate
        /// The resource is left stopped and blocked, and the operator told (a helper whose
        /// loss does not justify fencing the host).
        case block
    }

    public init(name: String, agent: String) {
        self.name = name
        self.agent = agent
    }

    /// The parameters as the agent on `host` gets them: `{host}` in a value becomes the
    /// host's name (one resource for hosts whose files differ only by it).
    public func parameters(on host: String) -> [String: String] {
        params.mapValues { $0.replacing("{host}", with: host) }
    }

    /// Whether it applies to a host.
    public func applies(to host: Host) -> Bool {
        if !hosts.isEmpty { return hosts.contains(host.name) }
        if let segment { return host.segment == segment }
        return true
    }
}

/// What the cluster knows of one resource on one host (Pacemaker's fail count and
/// last-failure, and whether a hard error blocked it).
public struct ProcessHealth: Hashable, Sendable {
    /// Reported failed (or a restart was asked for) and not yet started again.
    public var failed: Bool = false
    /// Failures counted toward the restart limit.
    public var failures: Int = 0
    public var lastFailureAt: Double? = nil
    /// A hard error (bad parameters, not installed) or the limit with `on_fail: block`:
    /// not restarted until an operator cleans it up (`lifeboat resource cleanup`).
    public var blocked: String? = nil

    public init() {}

    public var isClean: Bool { self == ProcessHealth() }
}
