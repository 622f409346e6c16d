/// What an operator configures: segments, hosts, instances with their HA tags, policy.
/// This part of the state is persisted by every node and survives a whole-cluster restart;
/// the rest (health, recoveries, history) is rebuilt from the live cluster.
public struct ClusterConfiguration: Hashable, Sendable {
    public var segments: [Segment]
    public var hosts: [Host]
    public var instances: [Instance]
    public var policy: Policy
    public var resources: [Resource]
    /// Hosts of the cluster outside every segment (removed through the Masakari API): not
    /// protected, not targets; kept with their node id and fence topology so that they can
    /// be added to a segment again.
    public var detachedHosts: [Host]
    /// Rules that make instances HA by project, aggregate, zone, host or segment.
    public var haRules: [HARule]

    public init(
        segments: [Segment] = [], hosts: [Host] = [], instances: [Instance] = [], policy: Policy = Policy(),
        resources: [Resource] = [], detachedHosts: [Host] = [], haRules: [HARule] = []
    ) {
        self.haRules = haRules
        self.detachedHosts = detachedHosts
        self.segments = segments
        self.hosts = hosts
        self.instances = instances
        self.policy = policy
        self.resources = resources
    }

    /// Reads the `cluster` object of the scenario format (the same keys, the same errors).
    public static func parse(_ json: JSONValue) throws(ScenarioError) -> ClusterConfiguration {
        var r = try ObjectReader(json, at: "cluster")
        let segments = try Scenario.parseSegments(try r.array("segments"))
        let hosts = try Scenario.parseHosts(try r.array("hosts"), segments: segments)
        let instances = try Scenario.parseInstances(try r.array("instances"), hosts: hosts)
        let policy = try Scenario.parsePolicy(r.optional("policy"))
        let resources = try Scenario.parseResources(r.optional("resources"), hosts: hosts, segments: segments)
        let detached = try Scenario.parseHosts(try r.array("detached_hosts"), segments: segments, detached: true)
        let rules = try Scenario.parseHARules(try r.array("ha_rules"))
        try r.finish()
        let c = ClusterConfiguration(
            segments: segments, hosts: hosts, instances: instances, policy: policy, resources: resources, detachedHosts: detached,
            haRules: rules)
        try c.validateMasakariFields()
        return c
    }

    /// Checks a configuration that did not come through `parse` (a wire message, a file on
    /// disk): the same rules, so a bad one is refused instead of corrupting state.
    public func validate() throws(ScenarioError) {
        var segmentNames = Set<String>()
        for (n, s) in segments.enumerated() where !segmentNames.insert(s.name).inserted || s.name.isEmpty {
            throw ScenarioError("cluster.segments[\(n)].name", "duplicate or empty segment name '\(s.name)'")
        }
        var hostCapacity: [String: Capacity] = [:]
        var nodeIDs = Set<UInt32>()
        for (n, h) in hosts.enumerated() {
            let path = "cluster.hosts[\(n)]"
            guard !h.name.isEmpty, hostCapacity[h.name] == nil else { throw ScenarioError("\(path).name", "duplicate or empty host name '\(h.name)'") }
            guard segmentNames.contains(h.segment) else { throw ScenarioError("\(path).segment", "unknown segment '\(h.segment)'") }
            guard h.nodeID > 0, nodeIDs.insert(h.nodeID).inserted else { throw ScenarioError("\(path).node_id", "node id \(h.nodeID) is 0 or already used") }
            guard h.capacity.isNonNegative, h.capacity.isBounded else {
                throw ScenarioError("\(path).capacity", "must be between 0 and \(Capacity.bound) in every dimension")
            }
            hostCapacity[h.name] = h.capacity
        }
        var ids = Set<String>()
        var used: [String: Capacity] = [:]
        for (n, i) in instances.enumerated() {
            let path = "cluster.instances[\(n)]"
            guard !i.id.isEmpty, ids.insert(i.id).inserted else { throw ScenarioError("\(path).id", "duplicate or empty instance id '\(i.id)'") }
            guard let cap = hostCapacity[i.host] else { throw ScenarioError("\(path).host", "unknown host '\(i.host)'") }
            guard i.flavor.isNonNegative, i.flavor.isBounded else {
                throw ScenarioError("\(path).flavor", "must be between 0 and \(Capacity.bound) in every dimension")
            }
            used[i.host, default: .zero] += i.flavor
            guard cap.holds(used[i.host]!) else { throw ScenarioError(path, "instance \(i.id) does not fit on \(i.host)") }
        }
        try Resource.validate(resources, hosts: Set(hostCapacity.keys), segments: segmentNames)
        var ruleNames = Set<String>()
        for (n, rule) in haRules.enumerated() {
            guard !rule.name.isEmpty, ruleNames.insert(rule.name).inserted else {
                throw ScenarioError("cluster.ha_rules[\(n)].name", "duplicate or empty rule name '\(rule.name)'")
            }
            guard rule.hasCriteria else { throw ScenarioError("cluster.ha_rules[\(n)]", "a rule needs at least one criterion") }
        }
        try validateMasakariFields()
        let p = policy
        guard p.processRestartLimit >= 0, p.instanceRestartLimit >= 0, p.maxConcurrentHostRecoveries >= 1,
            p.fenceAttemptLimit >= 1, p.flapLimit >= 1, p.flapWindow >= 0, p.stormWindow >= 0, p.failureTimeout >= 0,
            p.stormThreshold > 0, p.stormThreshold <= 1, p.startupGrace >= 0, p.clockSkewLimit > 0,
            p.noticeRetention >= 1, p.notificationRetention >= 1, p.duplicateNotificationInterval >= 0, p.actionLogRetention >= 1, p.historyRetention >= 1, p.retentionAge >= 0, p.archiveRetention >= 1000, p.archiveRetentionAge >= 0, p.fenceRetryInterval >= 0,
            p.evacuationAttemptLimit >= 1, p.evacuationRetryInterval >= 0, p.novaRetryInterval >= 0, p.maxParallelMigrations >= 1, p.migrationAttemptLimit >= 1
        else { throw ScenarioError("cluster.policy", "a value is out of range") }
    }
}

extension ClusterState {
    /// A state for a configuration. `membersKnown: false` (the daemon at start) marks every
    /// host as not yet seen in the membership, without treating that as a failure, and
    /// quorum as not (yet) established.
    public init(configuration c: ClusterConfiguration, membersKnown: Bool = true) {
        self.init(segments: c.segments, hosts: c.hosts, instances: c.instances, policy: c.policy)
        resources = c.resources
        haRules = c.haRules
        for h in c.detachedHosts where hosts[h.name] == nil { detachedHosts[h.name] = h }
        fillIdentities()
        refreshProtection()
        if !membersKnown {
            for name in hosts.keys { hosts[name]!.member = false }
            quorate = false
        }
    }

    /// A state read back from disk when lifeboatd starts: nothing it says about membership
    /// and quorum is current. Every host becomes unseen (not a member, and subject to
    /// startup fencing once the partition has been quorate for the grace period) and the
    /// state not quorate, until the live cluster reports. Recoveries, fence results, forced
    /// down services, in-flight records (re-planned by the next term), notices and history
    /// stay as they were.
    public func restartedFromSavedState() -> ClusterState {
        var s = self
        for name in s.hosts.keys {
            s.hosts[name]!.member = false
            s.hosts[name]!.unseen = true
        }
        s.quorate = false
        s.quorateSince = nil
        return s
    }

    /// The configured part of the state, as an operator set it.
    public var configuration: ClusterConfiguration {
        ClusterConfiguration(
            segments: segments.keys.sorted().map { name in
                let s = segments[name]!
                var c = Segment(name: s.name, recoveryMethod: s.recoveryMethod, enabled: s.enabled)
                c.identity = s.identity
                c.description = s.description
                c.serviceType = s.serviceType
                return c
            },
            hosts: hostOrder.map { hosts[$0]!.configured },
            instances: instances.keys.sorted().map { instances[$0]!.configured },
            policy: policy, resources: resources,
            detachedHosts: detachedHosts.keys.sorted().map { detachedHosts[$0]!.configured }, haRules: haRules)
    }

    /// Host name for a Corosync node id.
    public func hostName(nodeID: UInt32) -> String? {
        hostOrder.first { hosts[$0]!.nodeID == nodeID }
    }

    /// Replaces the configuration, keeping what is known of the health of hosts and
    /// instances that stay. Validated by `validate(_:)` first.
    mutating func configure(_ c: ClusterConfiguration) {
        var newHosts: [String: Host] = [:]
        for h in c.hosts {
            var n = h
            n.used = .zero
            if let old = hosts[h.name] {
                n.member = old.member
                n.unseen = old.unseen
                n.service = old.service
                n.fence = old.fence
                n.processes = old.processes
                n.recovery = old.recovery
                n.fencedAt = old.fencedAt
                n.failureCount = old.failureCount
                n.readmissionFailed = old.readmissionFailed
                n.readmissionFailedAt = old.readmissionFailedAt
                n.keepMasakariFields(of: old)
                // Nova's facts stay unless the configuration names them.
                if n.aggregates.isEmpty && n.availabilityZone == nil {
                    n.aggregates = old.aggregates
                    n.availabilityZone = old.availabilityZone
                }
            } else {
                if let old = detachedHosts[h.name] { n.keepMasakariFields(of: old) }
                n.member = false  // not seen yet; a membership change will say
            }
            newHosts[h.name] = n
        }
        var newSegments: [String: Segment] = [:]
        for s in c.segments {
            var n = s
            if let old = segments[s.name] {
                n.stormHalted = old.stormHalted
                n.recentLosses = old.recentLosses
                n.stormCount = old.stormCount
                n.keepMasakariFields(of: old)
            }
            newSegments[s.name] = n
        }
        var newInstances: [String: Instance] = [:]
        for i in c.instances {
            var n = i
            if let old = instances[i.id], old.host == i.host {
                n.state = old.state
                n.failures = old.failures
                n.evacuatingTo = old.evacuatingTo
                n.evacuationInterruptedAt = old.evacuationInterruptedAt
                n.evacuationFailures = old.evacuationFailures
                n.failedTargets = old.failedTargets
            }
            newInstances[i.id] = n
        }
        hosts = newHosts
        segments = newSegments
        instances = newInstances
        policy = c.policy
        resources = c.resources
        haRules = c.haRules
        instancesByHost = [:]
        for i in instances.values {
            instancesByHost[i.host, default: []].insert(i.id)
            hosts[i.host]!.used += i.flavor
            if let to = i.evacuatingTo { hosts[to]?.used += i.flavor }
        }
        failedInstances = failedInstances.filter { instances[$0]?.state == .failed }
        detachedHosts = [:]
        for h in c.detachedHosts where hosts[h.name] == nil { detachedHosts[h.name] = h }
        rebuildHostIndexes()
        fillIdentities()
        refreshProtection()
    }

    func validateConfigure(_ c: ClusterConfiguration) throws(EventRejected) {
        do { try c.validate() } catch { throw EventRejected("invalid configuration: \(error)") }
        let names = Set(c.hosts.map(\.name))
        for (name, h) in hosts where !names.contains(name) {
            if let r = h.recovery, !r.finished { throw EventRejected("host \(name) is being recovered: it cannot be removed now") }
        }
        for a in inFlight.values.map(\.action) {
            for h in [a.host, a.target].compactMap({ $0 }) where !names.contains(h) {
                throw EventRejected("\(a.key) is in flight on host \(h): it cannot be removed now")
            }
        }
        var newHost: [String: String] = [:]
        for i in c.instances { newHost[i.id] = i.host }
        let busy = Set(inFlight.values.compactMap(\.action.instance))
        for (id, i) in instances where newHost[id] != i.host && (i.state == .evacuating || busy.contains(id)) {
            throw EventRejected("instance \(id) has a recovery step in flight: it cannot be removed or moved now")
        }
    }
}

extension Host {
    /// Only what an operator configures of the host (no health).
    var configured: Host {
        var c = Host(name: name, segment: segment, nodeID: nodeID, reserved: reserved, maintenance: maintenance, capacity: capacity)
        c.fencing = fencing
        c.identity = identity
        c.type = type
        c.controlAttributes = controlAttributes
        c.aggregates = aggregates
        c.availabilityZone = availabilityZone
        return c
    }
}

extension ClusterConfiguration {
    /// Masakari's identities are unique: a uuid names one segment or host, an integer id
    /// one record.
    func validateMasakariFields() throws(ScenarioError) {
        var uuids = Set<String>()
        var serials = Set<Int>()
        for (n, s) in segments.enumerated() {
            if !s.identity.uuid.isEmpty, !uuids.insert(s.identity.uuid).inserted {
                throw ScenarioError("cluster.segments[\(n)].uuid", "uuid \(s.identity.uuid) is used twice")
            }
            if s.identity.serial > 0, !serials.insert(s.identity.serial).inserted {
                throw ScenarioError("cluster.segments[\(n)].id", "id \(s.identity.serial) is used twice")
            }
        }
        for (key, list) in [("hosts", hosts), ("detached_hosts", detachedHosts)] {
            for (n, h) in list.enumerated() {
                if !h.identity.uuid.isEmpty, !uuids.insert(h.identity.uuid).inserted {
                    throw ScenarioError("cluster.\(key)[\(n)].uuid", "uuid \(h.identity.uuid) is used twice")
                }
                if h.identity.serial > 0, !serials.insert(h.identity.serial).inserted {
                    throw ScenarioError("cluster.\(key)[\(n)].id", "id \(h.identity.serial) is used twice")
                }
            }
        }
        let attached = Set(hosts.map(\.name))
        for (n, h) in detachedHosts.enumerated() where attached.contains(h.name) {
            throw ScenarioError("cluster.detached_hosts[\(n)].name", "host \(h.name) is also in cluster.hosts")
        }
    }
}

extension ClusterState {
    /// Sets the configuration version kept on disk when a node starts from its saved
    /// configuration.
    public mutating func restoreConfigVersion(_ v: UInt64) { configVersion = v }
}

extension Instance {
    /// Only what an operator configures of the instance: its tag, project, priority, flavor.
    var configured: Instance {
        var c = Instance(id: id, host: host, ha: tag == .on, priority: priority, flavor: flavor)
        c.tag = tag
        c.project = project
        return c
    }
}
