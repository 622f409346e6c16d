/// Watches a run of the core and reports every broken safety invariant (DESIGN.md and
/// SCENARIOS.md). Used by `lifeboat simulate --check` and by the property tests; it
/// re-derives what it checks from the trace rather than trusting the core's own flags.
public struct InvariantMonitor: Sendable {
    public private(set) var violations: [String] = []
    private let maxRecoveries: Int
    /// Hosts whose power-off was confirmed (fence result `off` or operator confirmation),
    /// until they are re-admitted.
    private var confirmedOff: Set<String> = []
    /// (instance, source host, failure number) evacuated successfully.
    private var evacuated: Set<String> = []
    /// Instance → its evacuation in flight, as (instance, source host, failure number).
    private var evacuating: [String: String] = [:]

    public init(_ initial: ClusterState) {
        maxRecoveries = initial.policy.maxConcurrentHostRecoveries
        checkCapacity(initial)
    }

    mutating func violation(_ s: String) { violations.append(s) }

    /// Called before the leader records an action as started.
    public mutating func willStart(_ a: Action, _ s: ClusterState) {
        if case .notify = a { return }
        if s.inFlight[a.key] != nil { violation("\(a.key) started while an attempt of it is in flight") }
        if !s.quorate { violation("\(a.key) started without quorum") }
        if case .migrate = a {} else if let h = a.host, s.hosts[h]?.maintenance == true {
            violation("\(a.key) acts on \(h), which is in maintenance")
        }
        switch a {
        case .fence(let h):
            if s.hosts[h]?.recovery?.startedAt == nil, s.recoveriesInFlight >= maxRecoveries {
                violation("fence of \(h) starts a recovery beyond max_concurrent_host_recoveries=\(maxRecoveries)")
            }
        case .evacuate(let i, let from, let to):
            guard let inst = s.instances[i], let src = s.hosts[from], let dst = s.hosts[to] else {
                violation("\(a.key) names an unknown host or instance")
                return
            }
            if !confirmedOff.contains(from) { violation("\(i) evacuated from \(from) before it was confirmed off") }
            if src.member { violation("\(i) evacuated from \(from), which is running again") }
            if dst.segment != src.segment { violation("\(i) evacuated to \(to) outside segment \(src.segment)") }
            if dst.maintenance { violation("\(i) evacuated to \(to), which is in maintenance") }
            let rebooking = inst.evacuatingTo == to
            if !rebooking {
                if !inst.ha { violation("\(i) is not HA-tagged but is evacuated") }
                if !dst.free.holds(inst.flavor) { violation("\(i) evacuated to \(to) without room") }
                if !dst.member || dst.recovery != nil || dst.fence != .none {
                    violation("\(i) evacuated to \(to), which is failed or fenced")
                }
            }
            let once = "\(i)|\(from)|\(src.failureCount)"
            if evacuated.contains(once) { violation("\(i) evacuated twice for one failure of \(from)") }
            evacuating[i] = once
        case .migrate(let i, let from, let to):
            guard let inst = s.instances[i], let src = s.hosts[from], let dst = s.hosts[to] else {
                violation("\(a.key) names an unknown host or instance")
                return
            }
            if !src.maintenance || src.drain == nil { violation("\(i) migrated off \(from), which is not being drained") }
            if dst.segment != src.segment { violation("\(i) migrated to \(to) outside segment \(src.segment)") }
            if dst.maintenance { violation("\(i) migrated to \(to), which is in maintenance") }
            if inst.evacuatingTo != to {
                if !dst.free.holds(inst.flavor) { violation("\(i) migrated to \(to) without room") }
                if dst.reserved && !s.policy.drainToReserved { violation("\(i) migrated to reserved host \(to)") }
            }
        default:
            break
        }
    }

    /// Called after every event the core accepted.
    public mutating func applied(_ e: Event, _ s: ClusterState) {
        switch e {
        case .fenceConfirmedByOperator(let h): confirmedOff.insert(h)
        // A host in the membership runs: whatever power-off was confirmed before is over.
        case .nodeJoined(let h): confirmedOff.remove(h)
        case .actionStarted(.evacuate(_, _, let to), _):
            if s.hosts[to]?.reserved == true { violation("\(to) received an instance and still counts as reserve") }
        case .actionFinished(let key, _, let report):
            let outcome = report.outcome
            if key.hasPrefix("fence:"), outcome == .off { confirmedOff.insert(String(key.dropFirst(6))) }
            if key.hasPrefix("enable_service:"), outcome == .ok { confirmedOff.remove(String(key.dropFirst(15))) }
            if key.hasPrefix("evacuate:"), outcome == .ok {
                if let once = evacuating.removeValue(forKey: String(key.dropFirst(9))) { evacuated.insert(once) }
            }
        default:
            break
        }
        checkCapacity(s)
    }

    mutating func checkCapacity(_ s: ClusterState) {
        for h in s.hosts.values where !h.capacity.holds(h.used) || !h.used.isNonNegative {
            violation("host \(h.name) books \(h.used.summary) over its capacity \(h.capacity.summary)")
        }
    }

    /// At the end: every HA instance a finished recovery left on its fenced host was told.
    public mutating func finished(_ s: ClusterState) {
        let told = Set(s.notices.compactMap(\.notice.instance))
        // A host that came back mid-evacuation is reported once, naming what was not moved.
        let interrupted = Set(s.notices.filter { $0.notice.kind == .evacuationInterrupted }.compactMap(\.notice.host))
        for h in s.hosts.values where !interrupted.contains(h.name) {
            guard let r = h.recovery, r.finished, r.forceDown == .done else { continue }
            for inst in s.instances(on: h.name) where inst.ha && !told.contains(inst.id) {
                violation("\(inst.id) was left on fenced host \(h.name) without a notice")
            }
        }
    }
}
