/// The replicated state of the cluster: configuration, health, recoveries in progress and
/// the history of notices. Changed only by `apply(_:at:)`, which is pure and deterministic.
public struct ClusterState: Hashable, Sendable {
    public internal(set) var segments: [String: Segment] = [:]
    public internal(set) var hosts: [String: Host] = [:]
    public internal(set) var instances: [String: Instance] = [:]
    public internal(set) var policy: Policy
    /// Rules that make instances HA by project, aggregate, zone, host or segment.
    public internal(set) var haRules: [HARule] = []
    /// Resources kept running on the hosts (configuration), in name order.
    public internal(set) var resources: [Resource] = []
    /// Hosts of the cluster outside every segment (configuration; see `ClusterConfiguration`).
    public internal(set) var detachedHosts: [String: Host] = [:]
    /// Notifications received (Masakari's API), oldest first, bounded by retention.
    public internal(set) var notifications: [NotificationRecord] = []
    /// Serials of the notifications whose status still follows a recovery.
    public internal(set) var openNotifications: [Int] = []
    /// Notification uuid → its integer id (an index kept in step with `notifications`).
    public internal(set) var notificationSerials: [String: Int] = [:]
    public internal(set) var prunedNotifications: Int = 0
    /// The next Masakari integer id (segments, hosts, notifications share the sequence).
    public internal(set) var nextSerial: Int = 1
    /// Incidents not yet closed, by scope (`Incident.scope`); see ClusterState+Incidents.
    public internal(set) var openIncidents: [String: Incident] = [:]
    /// The id the next incident gets.
    public internal(set) var nextIncident: Int = 1

    /// The partition this state lives in has quorum.
    public internal(set) var quorate: Bool = true
    public internal(set) var quorumLosses: Int = 0

    /// Actions started and not yet finished, by `Action.key`, with their attempts.
    public internal(set) var inFlight: [String: ActionRecord] = [:]
    /// Finished actions with their reports, oldest first (bounded by retention).
    public internal(set) var actionLog: [CompletedAction] = []

    /// The current leadership term (each `leader_changed` raises it) and who holds it.
    public internal(set) var term: UInt64 = 0
    public internal(set) var termHolder: TermHolder? = nil
    /// Since when the partition has quorum (nil: not quorate); startup grace counts from it.
    public internal(set) var quorateSince: Double? = nil
    /// Events applied while quorate: how far this state got as the cluster's state. A
    /// partition without quorum does not advance it, so after a whole-cluster restart the
    /// nodes compare what they saved, not how long each has been up.
    public internal(set) var progress: UInt64 = 0
    /// CRC-32C chained over every event applied while quorate: two states with the same
    /// progress and lineage went through the same quorate history. Breaks ties between
    /// saved states by their content, not by how long each node has been up.
    public internal(set) var lineage: UInt32 = 0
    /// Entries removed by retention (never silently).
    public internal(set) var prunedNotices: Int = 0
    public internal(set) var prunedActions: Int = 0
    /// Notices raised by `apply` that the leader has not told yet.
    public internal(set) var pendingNotices: [Notice] = []
    /// Every notice told, in order.
    public internal(set) var notices: [RecordedNotice] = []
    /// `Notice.key` of every notice told: each is told once.
    public internal(set) var noticeKeys: Set<String> = []

    /// Number of events applied: equal on every member that applied the same events.
    public internal(set) var epoch: UInt64 = 0
    /// Number of configuration changes applied: the newest configuration wins when nodes
    /// that restarted compare what they kept on disk.
    public internal(set) var configVersion: UInt64 = 0
    /// Time of the last applied event.
    public internal(set) var now: Double = 0

    // Indexes kept in step by `apply`, so that planning never scans every instance.
    /// Host names in a fixed order (node id, then name): planning iterates in this order.
    public internal(set) var hostOrder: [String] = []
    public internal(set) var hostsBySegment: [String: [String]] = [:]
    public internal(set) var instancesByHost: [String: Set<String>] = [:]
    /// Instances reported failed whose restart (or notice) is due.
    public internal(set) var failedInstances: Set<String> = []

    /// Builds a state from a configuration; the model types are validated by the caller
    /// (`ClusterConfiguration.validate`).
    public init(segments: [Segment], hosts: [Host], instances: [Instance], policy: Policy) {
        self.policy = policy
        for s in segments { self.segments[s.name] = s }
        for h in hosts { self.hosts[h.name] = h }
        for i in instances {
            self.instances[i.id] = i
            self.instancesByHost[i.host, default: []].insert(i.id)
            self.hosts[i.host]?.used += i.flavor
        }
        rebuildHostIndexes()
        fillIdentities()
    }

    mutating func rebuildHostIndexes() {
        hostOrder = hosts.values.sorted { ($0.nodeID, $0.name) < ($1.nodeID, $1.name) }.map(\.name)
        hostsBySegment = [:]
        for name in hostOrder { hostsBySegment[hosts[name]!.segment, default: []].append(name) }
    }

    /// Instances on a host, in id order.
    public func instances(on host: String) -> [Instance] {
        (instancesByHost[host] ?? []).sorted().compactMap { instances[$0] }
    }

    /// Host recoveries that hold a concurrency slot: fencing started, not finished, and not
    /// stopped (fence failed, host in maintenance, segment disabled or halted by the storm
    /// guard): a stopped recovery must not keep other segments waiting.
    public var recoveriesInFlight: Int {
        hosts.values.reduce(0) { n, h in
            guard let r = h.recovery, r.startedAt != nil, !r.finished, h.fence != .failed, !h.maintenance,
                let seg = segments[h.segment], seg.enabled, !seg.stormHalted
            else { return n }
            return n + 1
        }
    }
}

extension ClusterState {
    /// Hosts of the segment are still rejoining after a cold start: some are unseen (and
    /// not known to be down: fenced, being recovered, in maintenance), and the startup grace
    /// since the partition became quorate has not passed.
    public func segmentIsSettling(_ segment: String) -> Bool {
        let waiting = (hostsBySegment[segment] ?? []).contains { name in
            let h = hosts[name]!
            return h.unseen && !h.maintenance && h.recovery == nil && h.fence == .none
        }
        guard waiting else { return false }
        guard let since = quorateSince else { return true }
        return now - since < policy.startupGrace
    }
}

extension ClusterState {
    /// A state that arrived from elsewhere (a snapshot on the wire, a file) is trusted only
    /// after its derived indexes are rebuilt from its own facts and those facts agree.
    public func checkedAfterDecoding() throws(EventRejected) -> ClusterState {
        var s = self
        for (name, h) in s.hosts
        where h.name != name || s.segments[h.segment] == nil || !h.capacity.isNonNegative || !h.capacity.isBounded {
            throw EventRejected("snapshot: host \(name) is inconsistent")
        }
        for (id, i) in s.instances where !i.flavor.isNonNegative || !i.flavor.isBounded {
            throw EventRejected("snapshot: instance \(id) has an impossible flavor")
        }
        // Everything in flight must name what exists, or finishing it would trap.
        for (key, r) in s.inFlight {
            let a = r.action
            guard key == a.key else { throw EventRejected("snapshot: in-flight record \(key) is inconsistent") }
            if let h = a.host, s.hosts[h] == nil { throw EventRejected("snapshot: \(key) names unknown host \(h)") }
            if let i = a.instance, s.instances[i] == nil { throw EventRejected("snapshot: \(key) names unknown instance \(i)") }
            if let to = a.target, s.hosts[to] == nil { throw EventRejected("snapshot: \(key) names unknown host \(to)") }
            if case .fence(let h) = a, s.hosts[h]!.recovery == nil { throw EventRejected("snapshot: \(key) fences a host not being recovered") }
        }
        do { try s.configuration.validate() } catch { throw EventRejected("snapshot: \(error)") }
        s.rebuildHostIndexes()
        s.instancesByHost = [:]
        var used: [String: Capacity] = [:]
        for (id, i) in s.instances {
            guard i.id == id, s.hosts[i.host] != nil else { throw EventRejected("snapshot: instance \(id) is on an unknown host") }
            s.instancesByHost[i.host, default: []].insert(id)
            used[i.host, default: .zero] += i.flavor
            if let to = i.evacuatingTo {
                guard s.hosts[to] != nil else { throw EventRejected("snapshot: instance \(id) moves to an unknown host") }
                used[to, default: .zero] += i.flavor
            }
        }
        for name in s.hosts.keys { s.hosts[name]!.used = used[name] ?? .zero }
        s.failedInstances = s.failedInstances.filter { s.instances[$0]?.state == .failed }
        s.refreshProtection()
        for (a, b) in zip(s.notifications, s.notifications.dropFirst()) where a.identity.serial >= b.identity.serial {
            throw EventRejected("snapshot: notifications are not in id order")
        }
        s.openNotifications = s.openNotifications.filter { s.notificationIndex(serial: $0) != nil }
        s.notificationSerials = [:]
        for n in s.notifications {
            guard s.notificationSerials.updateValue(n.identity.serial, forKey: n.identity.uuid) == nil else {
                throw EventRejected("snapshot: notification \(n.identity.uuid) appears twice")
            }
        }
        for (name, h) in s.detachedHosts where h.name != name || s.hosts[name] != nil {
            throw EventRejected("snapshot: detached host \(name) is inconsistent")
        }
        return s
    }
}
