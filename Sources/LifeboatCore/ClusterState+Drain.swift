/// Draining a host in maintenance: its instances are live-migrated to other hosts of its
/// segment (capacity-aware, a bounded number at once, each move a recorded action), and
/// the operator is told when the host is empty and safe to work on, or what stays and why.
/// Called only from `apply` after validation.
extension ClusterState {
    func validateDrain(_ h: String, on: Bool) throws(EventRejected) {
        try requireHost(h)
        let host = hosts[h]!
        if on {
            guard host.maintenance else { throw EventRejected("\(h) is not in maintenance: lifeboat maintenance \(h) on --drain") }
            guard host.member else { throw EventRejected("\(h) is not a running member of the cluster: its instances cannot be live-migrated") }
            if let d = host.drain, d.finishedAt == nil { throw EventRejected("\(h) is already being drained") }
        } else {
            guard host.drain != nil else { throw EventRejected("\(h) is not being drained") }
        }
    }

    func validateMigration(_ i: String, from: String, to: String) throws(EventRejected) {
        try requireHost(to)
        guard instances[i]!.host == from else { throw EventRejected("instance \(i) is on \(instances[i]!.host), not \(from)") }
        let src = hosts[from]!, dst = hosts[to]!
        guard src.maintenance, let d = src.drain, d.finishedAt == nil else {
            throw EventRejected("\(from) is not being drained: \(i) is not migrated")
        }
        guard dst.segment == src.segment else { throw EventRejected("target \(to) is outside segment \(src.segment)") }
        guard !dst.maintenance else { throw EventRejected("target \(to) is in maintenance") }
    }

    mutating func drain(_ h: String, on: Bool) {
        if on {
            let ids = (instancesByHost[h] ?? []).sorted()
            hosts[h]!.drain = Drain(requestedAt: now, total: ids.count)
            for id in ids { instances[id]!.failedTargets = [] }
            refreshDrain(h)
        } else {
            stopDrain(h, why: "an operator stopped it")
        }
    }

    /// No new moves; moves in flight finish. A finished drain is simply forgotten.
    mutating func stopDrain(_ h: String, why: String) {
        guard let d = hosts[h]?.drain else { return }
        hosts[h]!.drain = nil
        // Moves that a leader change left without an attempt are let go now.
        for id in (instancesByHost[h] ?? []).sorted() where instances[id]!.state == .migrating && inFlight["migrate:\(id)"] == nil {
            if let to = instances[id]!.evacuatingTo { hosts[to]?.used -= instances[id]!.flavor }
            instances[id]!.evacuatingTo = nil
            instances[id]!.state = .active
        }
        guard d.finishedAt == nil else { return }
        let left = (instancesByHost[h] ?? []).sorted()
        raise(
            Notice(
                kind: .drainFinished, key: "\(h)@\(d.requestedAt)",
                reason: "draining \(h) stopped (\(why)) after \(d.moved) of \(d.total) moves\(left.isEmpty ? "" : "; still on it: \(left.joined(separator: ", "))")",
                host: h))
    }

    mutating func segmentMaintenance(_ s: String, on: Bool) {
        for h in hostsBySegment[s] ?? [] where hosts[h]!.maintenance != on { setMaintenance(h, on) }
    }

    /// Ends a drain once nothing is left to move: every instance moved, or the rest blocked.
    mutating func refreshDrain(_ h: String) {
        guard let d = hosts[h]?.drain, d.finishedAt == nil else { return }
        let ids = (instancesByHost[h] ?? []).sorted()
        if ids.contains(where: { instances[$0]!.state == .migrating }) { return }
        let left = ids.filter { d.blocked[$0] == nil }
        guard left.isEmpty else { return }
        hosts[h]!.drain!.finishedAt = now
        let reason: String
        if ids.isEmpty {
            reason = "\(h) is empty and safe to work on: \(d.moved) instance\(d.moved == 1 ? "" : "s") moved"
        } else {
            reason = "draining \(h) is over, \(d.moved) moved; NOT moved, still running on \(h): "
                + ids.map { "\($0) (\(d.blocked[$0] ?? "?"))" }.joined(separator: "; ")
        }
        raise(Notice(kind: .drainFinished, key: "\(h)@\(d.requestedAt)", reason: reason, host: h))
    }

    mutating func migrationStarted(_ i: String, to: String) {
        if instances[i]!.evacuatingTo != to {
            if let old = instances[i]!.evacuatingTo { hosts[old]?.used -= instances[i]!.flavor }
            instances[i]!.evacuatingTo = to
            hosts[to]!.used += instances[i]!.flavor
        }
        instances[i]!.state = .migrating
    }

    mutating func migrationFinished(_ i: String, from: String, to: String, _ outcome: Outcome) {
        let flavor = instances[i]!.flavor
        instances[i]!.evacuatingTo = nil
        instances[i]!.state = .active  // a stopped one moved stopped: the inventory says so next
        if outcome.succeeded {
            instances[i]!.host = to
            instances[i]!.failedTargets = []
            instancesByHost[from]?.remove(i)
            instancesByHost[to, default: []].insert(i)
            hosts[from]!.used -= flavor
            hosts[from]!.drain?.moved += 1
            // The target failed while the instance was on its way: its recovery takes it along.
            if hosts[to]!.recovery != nil {
                hosts[to]!.recovery!.finished = false
                refreshRecovery(to)
            }
        } else {
            hosts[to]!.used -= flavor
            instances[i]!.failedTargets.append(to)
            let n = instances[i]!.failedTargets.count
            if n >= policy.migrationAttemptLimit, hosts[from]!.drain != nil {
                hosts[from]!.drain!.blocked[i] = "live migration failed \(n) times (last to \(to): \(outcome.rawValue))"
            }
        }
        refreshDrain(from)
        refreshRecovery(from)
    }
}

/// A drain in progress (or done) on a host in maintenance.
public struct Drain: Hashable, Sendable {
    public var requestedAt: Double
    public var finishedAt: Double? = nil
    /// Instances on the host when the drain began, and how many were moved since.
    public var total: Int
    public var moved: Int = 0
    /// Instances that are not moved, and why (no room, migrations failed).
    public var blocked: [String: String] = [:]

    public init(requestedAt: Double, total: Int) {
        self.requestedAt = requestedAt
        self.total = total
    }
}
