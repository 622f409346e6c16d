/// Reading and validating scenario files. Every error names the place it was found.
extension Scenario {
    public static func parse(_ text: String) throws(ScenarioError) -> Scenario {
        let json: JSONValue
        do { json = try JSONParser.parse(text) } catch { throw ScenarioError("", "invalid JSON at \(error)") }
        return try parse(json)
    }

    public static func parse(_ json: JSONValue) throws(ScenarioError) -> Scenario {
        var top = try ObjectReader(json, at: "")
        let description = try top.optional("description").map { v throws(ScenarioError) in try ObjectReader.string(v, at: "description") }
        var cluster = try ObjectReader(try top.required("cluster"), at: "cluster")
        let segments = try parseSegments(try cluster.array("segments"))
        let hosts = try parseHosts(try cluster.array("hosts"), segments: segments)
        let instances = try parseInstances(try cluster.array("instances"), hosts: hosts)
        let policy = try parsePolicy(cluster.optional("policy"))
        let resources = try parseResources(cluster.optional("resources"), hosts: hosts, segments: segments)
        let haRules = try parseHARules(try cluster.array("ha_rules"))
        try cluster.finish()
        let hostNames = Set(hosts.map(\.name))
        let instanceIDs = Set(instances.map(\.id))
        let faults = try parseFaults(top.optional("faults"), hosts: hostNames, instances: instanceIDs)
        let durations = try parseDurations(top.optional("durations"))
        let events = try parseEvents(
            try top.array("events"), hosts: hostNames, instances: instanceIDs, segments: Set(segments.map(\.name)))
        try top.finish()
        var scenario = Scenario(
            description: description, segments: segments, hosts: hosts, instances: instances, policy: policy,
            faults: faults, durations: durations, events: events)
        scenario.resources = resources
        scenario.haRules = haRules
        return scenario
    }

    static func parseSegments(_ items: [JSONValue]) throws(ScenarioError) -> [Segment] {
        var out: [Segment] = []
        var seen = Set<String>()
        for (n, item) in items.enumerated() {
            let path = "cluster.segments[\(n)]"
            var r = try ObjectReader(item, at: path)
            let name = try r.string("name")
            guard seen.insert(name).inserted else { throw ScenarioError(r.sub("name"), "duplicate segment name '\(name)'") }
            let methodName = try r.string("recovery_method", default: "auto")
            guard let method = RecoveryMethod(rawValue: methodName) else {
                throw ScenarioError(
                    r.sub("recovery_method"),
                    "unknown recovery method '\(methodName)' (one of: \(RecoveryMethod.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            let enabled = try r.bool("enabled", default: true)
            var segment = Segment(name: name, recoveryMethod: method, enabled: enabled)
            try segment.readMasakariFields(&r)
            try r.finish()
            out.append(segment)
        }
        return out
    }

    static func parseCapacity(_ value: JSONValue, at path: String) throws(ScenarioError) -> Capacity {
        var r = try ObjectReader(value, at: path)
        let c = Capacity(vcpus: try r.int("vcpus"), ramMB: try r.int("ram_mb"), diskGB: try r.int("disk_gb"))
        try r.finish()
        for (key, v) in [("vcpus", c.vcpus), ("ram_mb", c.ramMB), ("disk_gb", c.diskGB)] where v < 0 {
            throw ScenarioError("\(path).\(key)", "must not be negative (found \(v))")
        }
        return c
    }

    /// `detached`: hosts outside every segment (`detached_hosts`), whose `segment` is the
    /// one they left.
    static func parseHosts(_ items: [JSONValue], segments: [Segment], detached: Bool = false) throws(ScenarioError) -> [Host] {
        let segmentNames = Set(segments.map(\.name))
        var out: [Host] = []
        var names = Set<String>()
        var nodeIDs: [UInt32: String] = [:]
        for (n, item) in items.enumerated() {
            var r = try ObjectReader(item, at: "cluster.\(detached ? "detached_hosts" : "hosts")[\(n)]")
            let name = try r.string("name")
            guard names.insert(name).inserted else { throw ScenarioError(r.sub("name"), "duplicate host name '\(name)'") }
            let segment = try r.string("segment")
            guard detached || segmentNames.contains(segment) else {
                throw ScenarioError(r.sub("segment"), "unknown segment '\(segment)' for host \(name)")
            }
            let id = try r.int("node_id", default: n + 1)
            guard id > 0, id <= Int(UInt32.max) else {
                throw ScenarioError(r.sub("node_id"), "must be a Corosync node id between 1 and \(UInt32.max)")
            }
            if let other = nodeIDs[UInt32(id)] {
                throw ScenarioError(r.sub("node_id"), "node id \(id) is already used by host \(other)")
            }
            nodeIDs[UInt32(id)] = name
            let reserved = try r.bool("reserved", default: false)
            let maintenance = try r.bool("maintenance", default: false)
            let capacity = try parseCapacity(try r.required("capacity"), at: r.sub("capacity"))
            let fencing = try r.optional("fencing").map { v throws(ScenarioError) in try FenceTopology.parse(v, at: r.sub("fencing")) }
            var host = Host(
                name: name, segment: segment, nodeID: UInt32(id), reserved: reserved, maintenance: maintenance, capacity: capacity)
            host.aggregates = try r.stringList("aggregates")
            host.availabilityZone = try r.optional("availability_zone").map { v throws(ScenarioError) in try ObjectReader.string(v, at: r.sub("availability_zone")) }
            try host.readMasakariFields(&r)
            try r.finish()
            if let fencing { host.fencing = fencing }
            out.append(host)
        }
        return out
    }

    static func parseInstances(_ items: [JSONValue], hosts: [Host]) throws(ScenarioError) -> [Instance] {
        var capacity: [String: Capacity] = [:]
        for h in hosts { capacity[h.name] = h.capacity }
        var used: [String: Capacity] = [:]
        var out: [Instance] = []
        var ids = Set<String>()
        for (n, item) in items.enumerated() {
            var r = try ObjectReader(item, at: "cluster.instances[\(n)]")
            let id = try r.string("id")
            guard ids.insert(id).inserted else { throw ScenarioError(r.sub("id"), "duplicate instance id '\(id)'") }
            let host = try r.string("host")
            guard let cap = capacity[host] else {
                throw ScenarioError(r.sub("host"), "unknown host '\(host)' for instance \(id)")
            }
            let ha = try r.bool("ha", default: false)
            let optOut = try r.bool("ha_opt_out", default: false)
            guard !(ha && optOut) else { throw ScenarioError(r.sub("ha_opt_out"), "an instance cannot be both tagged HA and opted out") }
            let project = try r.optional("project").map { v throws(ScenarioError) in try ObjectReader.string(v, at: r.sub("project")) }
            let priority = try r.int("priority", default: 0)
            let flavor = try parseCapacity(try r.required("flavor"), at: r.sub("flavor"))
            try r.finish()
            used[host, default: .zero] += flavor
            guard cap.holds(used[host]!) else {
                throw ScenarioError(
                    r.path, "instance \(id) does not fit on \(host): instances there need \(used[host]!.summary), capacity is \(cap.summary)")
            }
            var instance = Instance(id: id, host: host, ha: ha, priority: priority, flavor: flavor)
            if optOut { instance.tag = .off }
            instance.project = project
            out.append(instance)
        }
        return out
    }

    /// `cluster.ha_rules`: `{name, project?, aggregate?, availability_zone?, host?, segment?,
    /// protect (default true), priority (default 0)}`, at least one criterion each.
    static func parseHARules(_ items: [JSONValue], path: String = "cluster.ha_rules") throws(ScenarioError) -> [HARule] {
        var out: [HARule] = []
        var names = Set<String>()
        for (n, item) in items.enumerated() {
            let rule = try parseHARule(item, at: "\(path)[\(n)]")
            guard names.insert(rule.name).inserted else { throw ScenarioError("\(path)[\(n)].name", "duplicate rule name '\(rule.name)'") }
            out.append(rule)
        }
        return out
    }

    public static func parseHARule(_ item: JSONValue, at path: String) throws(ScenarioError) -> HARule {
        var r = try ObjectReader(item, at: path)
        var rule = HARule(name: try r.string("name"), protect: try r.bool("protect", default: true), priority: try r.int("priority", default: 0))
        func text(_ key: String) throws(ScenarioError) -> String? {
            try r.optional(key).map { v throws(ScenarioError) in try ObjectReader.string(v, at: r.sub(key)) }
        }
        rule.project = try text("project")
        rule.aggregate = try text("aggregate")
        rule.availabilityZone = try text("availability_zone")
        rule.host = try text("host")
        rule.segment = try text("segment")
        try r.finish()
        guard rule.hasCriteria else {
            throw ScenarioError(path, "a rule needs at least one of project, aggregate, availability_zone, host, segment")
        }
        return rule
    }

    static func parsePolicy(_ value: JSONValue?) throws(ScenarioError) -> Policy {
        var p = Policy()
        guard let value else { return p }
        var r = try ObjectReader(value, at: "cluster.policy")
        func atLeast(_ key: String, _ v: Int, _ min: Int) throws(ScenarioError) -> Int {
            guard v >= min else { throw ScenarioError("cluster.policy.\(key)", "must be at least \(min) (found \(v))") }
            return v
        }
        p.processRestartLimit = try atLeast("process_restart_limit", try r.int("process_restart_limit", default: p.processRestartLimit), 0)
        p.instanceRestartLimit = try atLeast("instance_restart_limit", try r.int("instance_restart_limit", default: p.instanceRestartLimit), 0)
        p.maxConcurrentHostRecoveries = try atLeast(
            "max_concurrent_host_recoveries", try r.int("max_concurrent_host_recoveries", default: p.maxConcurrentHostRecoveries), 1)
        p.fenceAttemptLimit = try atLeast("fence_attempt_limit", try r.int("fence_attempt_limit", default: p.fenceAttemptLimit), 1)
        p.fenceRetryInterval = try r.number("fence_retry_interval", default: p.fenceRetryInterval)
        p.flapLimit = try atLeast("flap_limit", try r.int("flap_limit", default: p.flapLimit), 1)
        p.flapWindow = try r.number("flap_window", default: p.flapWindow)
        p.failureTimeout = try r.number("failure_timeout", default: p.failureTimeout)
        p.stormThreshold = try r.number("storm_threshold", default: p.stormThreshold)
        p.stormWindow = try r.number("storm_window", default: p.stormWindow)
        let readmit = try r.string("readmit_reserve", default: p.readmitReserve.rawValue)
        guard let mode = ReadmitReserve(rawValue: readmit) else {
            throw ScenarioError(
                "cluster.policy.readmit_reserve",
                "unknown value '\(readmit)' (one of: \(ReadmitReserve.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        p.readmitReserve = mode
        p.startupFencing = try r.bool("startup_fencing", default: p.startupFencing)
        p.startupGrace = try r.number("startup_grace", default: p.startupGrace)
        p.clockSkewLimit = try r.number("clock_skew_limit", default: p.clockSkewLimit)
        p.priorityFencingDelay = try r.number("priority_fencing_delay", default: p.priorityFencingDelay)
        p.evacuationAttemptLimit = try atLeast(
            "evacuation_attempt_limit", try r.int("evacuation_attempt_limit", default: p.evacuationAttemptLimit), 1)
        p.evacuationRetryInterval = try r.number("evacuation_retry_interval", default: p.evacuationRetryInterval)
        p.novaRetryInterval = try r.number("nova_retry_interval", default: p.novaRetryInterval)
        p.evacuateAll = try r.bool("evacuate_all", default: p.evacuateAll)
        p.maxParallelMigrations = try atLeast("max_parallel_migrations", try r.int("max_parallel_migrations", default: p.maxParallelMigrations), 1)
        p.drainToReserved = try r.bool("drain_to_reserved", default: p.drainToReserved)
        p.migrationAttemptLimit = try atLeast("migration_attempt_limit", try r.int("migration_attempt_limit", default: p.migrationAttemptLimit), 1)
        p.noticeRetention = try atLeast("notice_retention", try r.int("notice_retention", default: p.noticeRetention), 1)
        p.actionLogRetention = try atLeast("action_log_retention", try r.int("action_log_retention", default: p.actionLogRetention), 1)
        p.historyRetention = try atLeast("history_retention", try r.int("history_retention", default: p.historyRetention), 1)
        p.retentionAge = try r.number("retention_age", default: p.retentionAge)
        p.archiveRetention = try atLeast("archive_retention", try r.int("archive_retention", default: p.archiveRetention), 1000)
        p.archiveRetentionAge = try r.number("archive_retention_age", default: p.archiveRetentionAge)
        p.notificationRetention = try atLeast(
            "notification_retention", try r.int("notification_retention", default: p.notificationRetention), 1)
        p.duplicateNotificationInterval = try r.number("duplicate_notification_interval", default: p.duplicateNotificationInterval)
        try r.finish()
        guard p.stormThreshold > 0, p.stormThreshold <= 1 else {
            throw ScenarioError("cluster.policy.storm_threshold", "must be a share above 0 and at most 1 (found \(p.stormThreshold))")
        }
        for (key, v) in [
            ("flap_window", p.flapWindow), ("storm_window", p.stormWindow), ("failure_timeout", p.failureTimeout),
            ("startup_grace", p.startupGrace), ("retention_age", p.retentionAge), ("priority_fencing_delay", p.priorityFencingDelay),
            ("archive_retention_age", p.archiveRetentionAge),
            ("fence_retry_interval", p.fenceRetryInterval), ("nova_retry_interval", p.novaRetryInterval),
            ("evacuation_retry_interval", p.evacuationRetryInterval),
            ("duplicate_notification_interval", p.duplicateNotificationInterval),
        ]
        where v < 0 {
            throw ScenarioError("cluster.policy.\(key)", "must not be negative (found \(v))")
        }
        guard p.clockSkewLimit > 0 else {
            throw ScenarioError("cluster.policy.clock_skew_limit", "must be above 0 (found \(p.clockSkewLimit))")
        }
        return p
    }

    static func parseFaults(_ value: JSONValue?, hosts: Set<String>, instances: Set<String>) throws(ScenarioError) -> Faults {
        var f = Faults()
        guard let value else { return f }
        var r = try ObjectReader(value, at: "faults")
        func table(_ key: String, _ known: Set<String>, _ what: String) throws(ScenarioError) -> [String: FaultMode] {
            guard let v = r.optional(key) else { return [:] }
            var t = try ObjectReader(v, at: "faults.\(key)")
            var out: [String: FaultMode] = [:]
            for (name, modeValue) in t.members {
                let path = "faults.\(key).\(name)"
                _ = t.optional(name)
                guard known.contains(name) else { throw ScenarioError(path, "unknown \(what) '\(name)'") }
                let m = try ObjectReader.string(modeValue, at: path)
                guard let mode = FaultMode(rawValue: m) else {
                    throw ScenarioError(path, "unknown fault '\(m)' (one of: \(FaultMode.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                if mode == .refusedUntilRestart, key != "enable_service" {
                    throw ScenarioError(path, "'\(m)' applies to enable_service only")
                }
                out[name] = mode
            }
            return out
        }
        f.fence = try table("fence", hosts, "host")
        f.processRestart = try table("process_restart", hosts, "host")
        f.evacuate = try table("evacuate", instances, "instance")
        f.migrate = try table("migrate", instances, "instance")
        f.instanceRestart = try table("instance_restart", instances, "instance")
        f.forceDown = try table("force_down", hosts, "host")
        f.disableService = try table("disable_service", hosts, "host")
        f.enableService = try table("enable_service", hosts, "host")
        try r.finish()
        return f
    }

    static func parseDurations(_ value: JSONValue?) throws(ScenarioError) -> [String: Double] {
        guard let value else { return [:] }
        var r = try ObjectReader(value, at: "durations")
        var out: [String: Double] = [:]
        for kind in Action.allKinds where kind != "notify" {
            let d = try r.number(kind, default: 0)
            guard d >= 0 else { throw ScenarioError("durations.\(kind)", "must not be negative (found \(d))") }
            out[kind] = d
        }
        try r.finish()
        return out
    }

    static func parseEvents(
        _ items: [JSONValue], hosts: Set<String>, instances: Set<String>, segments: Set<String>
    ) throws(ScenarioError) -> [TimedEvent] {
        var out: [TimedEvent] = []
        var last = 0.0
        for (n, item) in items.enumerated() {
            var r = try ObjectReader(item, at: "events[\(n)]")
            let at = try r.number("at")
            guard at >= 0 else { throw ScenarioError(r.sub("at"), "must not be negative (found \(at))") }
            guard at >= last else {
                throw ScenarioError(r.sub("at"), "\(at) comes before the previous event's \(last): events must be in time order")
            }
            last = at
            var event = try Event.read(&r, names: EventNames(hosts: hosts, instances: instances, segments: segments))
            try r.finish()
            if case .notificationReceived(var posted) = event {
                posted.fillPosted(at: at, uuidSeed: "events[\(n)]")
                event = .notificationReceived(posted)
            }
            out.append(TimedEvent(at: at, event))
        }
        return out
    }

    /// Reads one operator command event (`{"kind": "maintenance", "host": "h1", "on": true}`)
    /// against the hosts, instances and segments of `state`. Unknown keys are an error.
    public static func parseCommandEvent(_ json: JSONValue, state: ClusterState) throws(ScenarioError) -> Event {
        var r = try ObjectReader(json, at: "")
        var event = try Event.read(
            &r, names: EventNames(hosts: Set(state.hosts.keys), instances: Set(state.instances.keys), segments: Set(state.segments.keys)))
        try r.finish()
        if case .notificationReceived(var posted) = event {
            posted.fillPosted(at: state.now, uuidSeed: "command/\(state.epoch)")
            event = .notificationReceived(posted)
        }
        return event
    }

    public static let eventKinds = [
        "node_lost", "node_joined", "quorum", "process_failed", "process_recovered", "instance_failed",
        "maintenance", "fence_confirmed_by_operator", "fence_requested", "segment_enabled", "reserved", "ha", "storm_reset",
        "leader_changed", "resource_blocked", "resource_cleanup", "resource_restart", "ha_rule_saved", "ha_rule_removed", "drain", "segment_maintenance", "notification",
    ]
}
