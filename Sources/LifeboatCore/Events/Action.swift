/// Something the leader should do. Planned by `Scheduler`, carried out by an executor,
/// and recorded as `Event.actionStarted` / `Event.actionFinished` so that every member
/// knows what is in flight.
public enum Action: Hashable, Sendable {
    /// Power the host off through its fence device and confirm it is off.
    case fence(host: String)
    /// Mark the host's nova-compute service forced down, so Nova accepts evacuations.
    case forceDown(host: String)
    /// Disable the host's nova-compute service in the scheduler.
    case disableService(host: String)
    /// Re-enable (and un-force-down) the service of a host that came back healthy.
    case enableService(host: String)
    /// Restart a failed process (nova-compute) in place.
    case restartProcess(host: String, process: String)
    /// Restart a failed VM in place on its (healthy) host.
    case restartInstance(instance: String, host: String)
    /// Rebuild an instance of a fenced host on a target of the same segment.
    case evacuate(instance: String, from: String, to: String)
    /// Live-migrate a running instance off a host in maintenance that is being drained, to
    /// a target of the same segment.
    case migrate(instance: String, from: String, to: String)
    /// Ask for operator attention. Recorded, never retried.
    case notify(Notice)

    /// At most one action per key is in flight: one fence per host, one evacuation per
    /// instance, and so on.
    public var key: String {
        switch self {
        case .fence(let h): "fence:\(h)"
        case .forceDown(let h): "force_down:\(h)"
        case .disableService(let h): "disable_service:\(h)"
        case .enableService(let h): "enable_service:\(h)"
        case .restartProcess(let h, let p): "restart_process:\(h):\(p)"
        case .restartInstance(let i, _): "restart_instance:\(i)"
        case .evacuate(let i, _, _): "evacuate:\(i)"
        case .migrate(let i, _, _): "migrate:\(i)"
        case .notify(let n): "notify:\(n.key)"
        }
    }

    /// The action kind as named in scenario output (`fence`, `evacuate`, …).
    public var kind: String {
        switch self {
        case .fence: "fence"
        case .forceDown: "force_down"
        case .disableService: "disable_service"
        case .enableService: "enable_service"
        case .restartProcess: "restart_process"
        case .restartInstance: "restart_instance"
        case .evacuate: "evacuate"
        case .migrate: "migrate"
        case .notify: "notify"
        }
    }

    public static let allKinds = [
        "fence", "force_down", "disable_service", "enable_service", "restart_process",
        "restart_instance", "evacuate", "migrate", "notify",
    ]

    /// The host the action works on (for evacuations: the failed source host).
    public var host: String? {
        switch self {
        case .fence(let h), .forceDown(let h), .disableService(let h), .enableService(let h),
            .restartProcess(let h, _), .restartInstance(_, let h):
            h
        case .evacuate(_, let from, _), .migrate(_, let from, _): from
        case .notify(let n): n.host
        }
    }

    /// Where an evacuation or a migration takes its instance.
    public var target: String? {
        switch self {
        case .evacuate(_, _, let to), .migrate(_, _, let to): to
        default: nil
        }
    }

    public var instance: String? {
        switch self {
        case .restartInstance(let i, _), .evacuate(let i, _, _), .migrate(let i, _, _): i
        case .notify(let n): n.instance
        default: nil
        }
    }
}

/// The result an executor reports for an action.
public enum Outcome: String, Sendable, CaseIterable {
    case ok
    /// Fencing: the device confirmed the host is powered off.
    case off
    case failed
    case timeout
    /// The leader stopped the attempt before it finished (it lost leadership or quorum):
    /// not a failed attempt; the step is planned again.
    case cancelled

    public var succeeded: Bool { self == .ok || self == .off }
}

extension Action {
    /// The outcomes an executor may report for this action: `off` only for a fence, `ok`
    /// for everything else.
    public func accepts(_ outcome: Outcome) -> Bool {
        switch (self, outcome) {
        case (.fence, .ok): false
        case (.fence, _): true
        case (_, .off): false
        default: true
        }
    }
}
