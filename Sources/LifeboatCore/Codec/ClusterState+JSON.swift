/// The whole replicated state in the explicit schema: what a sync-round winner sends and
/// what every node keeps on disk. Derived indexes (host order, instances by host, used
/// capacity) are not written: `checkedAfterDecoding` rebuilds them from the facts.
extension ClusterState {
    public var json: JSONValue {
        .object([
            ("segments", .array(segments.keys.sorted().map { segments[$0]!.stateJSON })),
            ("hosts", .array(hostOrder.map { hosts[$0]!.stateJSON })),
            ("instances", .array(instances.keys.sorted().map { instances[$0]!.stateJSON })),
            ("policy", policy.json), ("resources", .array(resources.map(\.json))),
            ("quorate", .bool(quorate)), ("quorum_losses", .int(quorumLosses)), ("quorate_since", .optional(quorateSince)),
            ("in_flight", .array(inFlight.keys.sorted().map { inFlight[$0]!.json })),
            ("action_log", .array(actionLog.map(\.json))),
            ("pending_notices", .array(pendingNotices.map(\.json))),
            ("notices", .array(notices.map(\.json))),
            ("notice_keys", .strings(noticeKeys.sorted())),
            ("failed_instances", .strings(failedInstances.sorted())),
            ("epoch", .uint(epoch)), ("config_version", .uint(configVersion)), ("progress", .uint(progress)), ("lineage", .uint(UInt64(lineage))),
            ("now", .number(now)), ("term", .uint(term)), ("term_holder", termHolder?.json ?? .null),
            ("pruned_notices", .int(prunedNotices)), ("pruned_actions", .int(prunedActions)),
            ("detached_hosts", .array(detachedHosts.keys.sorted().map { detachedHosts[$0]!.configurationJSON })),
            ("notifications", .array(notifications.map(\.json))), ("open_notifications", .array(openNotifications.map { .int($0) })),
            ("pruned_notifications", .int(prunedNotifications)), ("next_serial", .int(nextSerial)),
            ("incidents", .array(incidents.map(\.json))), ("next_incident", .int(nextIncident)),
            ("ha_rules", .array(haRules.map(\.json))),
        ])
    }

    /// Reads a state and checks it (`checkedAfterDecoding`): a bad one is refused whole.
    public static func decode(_ v: JSONValue, at path: String) throws(ScenarioError) -> ClusterState {
        var r = try ObjectReader(v, at: path)
        let segments = try r.list("segments") { v, p throws(ScenarioError) in try Segment.decodeState(v, at: p) }
        let hosts = try r.list("hosts") { v, p throws(ScenarioError) in try Host.decodeState(v, at: p) }
        let instances = try r.list("instances") { v, p throws(ScenarioError) in try Instance.decodeState(v, at: p) }
        let policy = try Scenario.parsePolicy(try r.required("policy"))
        var s = ClusterState(segments: segments, hosts: hosts, instances: instances, policy: policy)
        s.resources = try Scenario.parseResources(r.optional("resources"), hosts: hosts, segments: segments)
        guard s.segments.count == segments.count, s.hosts.count == hosts.count, s.instances.count == instances.count else {
            throw ScenarioError(path, "duplicate segment, host or instance")
        }
        s.quorate = try r.bool("quorate")
        s.quorumLosses = Int(try r.uint64("quorum_losses"))
        s.quorateSince = try r.optionalNumber("quorate_since")
        for rec in try r.list("in_flight", { v, p throws(ScenarioError) in try ActionRecord.decode(v, at: p) }) {
            guard s.inFlight.updateValue(rec, forKey: rec.key) == nil else {
                throw ScenarioError(r.sub("in_flight"), "two records for \(rec.key)")
            }
        }
        s.actionLog = try r.list("action_log") { v, p throws(ScenarioError) in try CompletedAction.decode(v, at: p) }
        s.pendingNotices = try r.list("pending_notices") { v, p throws(ScenarioError) in try Notice.decode(v, at: p) }
        s.notices = try r.list("notices") { v, p throws(ScenarioError) in try RecordedNotice.decode(v, at: p) }
        s.noticeKeys = Set(try r.stringList("notice_keys"))
        s.failedInstances = Set(try r.stringList("failed_instances"))
        s.epoch = try r.uint64("epoch")
        s.configVersion = try r.uint64("config_version")
        s.progress = try r.uint64("progress")
        s.lineage = UInt32(clamping: try r.uint64("lineage"))
        s.now = try r.number("now")
        s.term = try r.uint64("term")
        s.termHolder = try r.optional("term_holder").map { v throws(ScenarioError) in try TermHolder.decode(v, at: r.sub("term_holder")) }
        s.prunedNotices = Int(try r.uint64("pruned_notices"))
        s.prunedActions = Int(try r.uint64("pruned_actions"))
        for h in try Scenario.parseHosts(try r.array("detached_hosts"), segments: segments, detached: true) { s.detachedHosts[h.name] = h }
        // Absent from states written before the Masakari API (wire version 3): empty then.
        s.notifications = try r.array("notifications").enumerated().map { n, v throws(ScenarioError) in
            try NotificationRecord.decode(v, at: "\(r.sub("notifications"))[\(n)]")
        }
        s.openNotifications = try r.array("open_notifications").enumerated().map { n, v throws(ScenarioError) in
            try ObjectReader.int(v, at: "\(r.sub("open_notifications"))[\(n)]")
        }
        s.prunedNotifications = try r.int("pruned_notifications", default: 0)
        s.nextSerial = max(s.nextSerial, try r.int("next_serial", default: 1), (s.notifications.last?.identity.serial ?? 0) + 1)
        // Absent from states written before incidents (wire version 4): none open then.
        for inc in try r.list("incidents", { v, p throws(ScenarioError) in try Incident.decode(v, at: p) }) {
            guard s.openIncidents.updateValue(inc, forKey: inc.scope) == nil else {
                throw ScenarioError(r.sub("incidents"), "two open incidents for \(inc.scope)")
            }
        }
        s.nextIncident = max(try r.int("next_incident", default: 1), (s.openIncidents.values.map(\.id).max() ?? 0) + 1)
        s.haRules = try Scenario.parseHARules(try r.array("ha_rules"), path: r.sub("ha_rules"))
        try r.finish()
        do { return try s.checkedAfterDecoding() } catch { throw ScenarioError(path, error.reason) }
    }
}

extension Segment {
    var stateJSON: JSONValue {
        .object([
            ("name", .string(name)), ("recovery_method", .string(recoveryMethod.rawValue)), ("enabled", .bool(enabled)),
            ("storm_halted", .bool(stormHalted)), ("storm_count", .int(stormCount)),
            ("recent_losses", .object(recentLosses.keys.sorted().map { ($0, .number(recentLosses[$0]!)) })),
        ] + masakariFields)
    }

    static func decodeState(_ v: JSONValue, at path: String) throws(ScenarioError) -> Segment {
        var r = try ObjectReader(v, at: path)
        var s = Segment(name: try r.string("name"), recoveryMethod: try r.choice("recovery_method", RecoveryMethod.self), enabled: try r.bool("enabled"))
        s.stormHalted = try r.bool("storm_halted")
        s.stormCount = Int(try r.uint64("storm_count"))
        let losses = try ObjectReader(try r.required("recent_losses"), at: r.sub("recent_losses"))
        for (h, t) in losses.members { s.recentLosses[h] = try ObjectReader.number(t, at: losses.sub(h)) }
        try s.readMasakariFields(&r)
        try r.finish()
        return s
    }
}

extension Host {
    var stateJSON: JSONValue {
        .object([
            ("name", .string(name)), ("segment", .string(segment)), ("node_id", .uint(nodeID)), ("reserved", .bool(reserved)),
            ("maintenance", .bool(maintenance)), ("capacity", capacity.json), ("fencing", fencing.json),
            ("member", .bool(member)), ("unseen", .bool(unseen)),
            ("service", .string(service.rawValue)), ("fence", .string(fence.rawValue)),
            ("processes", .object(processes.keys.sorted().map { ($0, processes[$0]!.json) })),
            ("recovery", recovery?.json ?? .null),
            ("fenced_at", .array(fencedAt.map { .number($0) })), ("readmission_failed", .bool(readmissionFailed)),
            ("readmission_failed_at", .optional(readmissionFailedAt)),
            ("failure_count", .int(failureCount)),
            ("aggregates", .strings(aggregates)), ("availability_zone", .optional(availabilityZone)),
            ("drain", drain?.json ?? .null),
        ] + masakariFields)
    }

    static func decodeState(_ v: JSONValue, at path: String) throws(ScenarioError) -> Host {
        var r = try ObjectReader(v, at: path)
        var h = Host(
            name: try r.string("name"), segment: try r.string("segment"), nodeID: try r.uint32("node_id"),
            reserved: try r.bool("reserved"), maintenance: try r.bool("maintenance"),
            capacity: try Scenario.parseCapacity(try r.required("capacity"), at: r.sub("capacity")))
        h.fencing = try FenceTopology.parse(try r.required("fencing"), at: r.sub("fencing"))
        h.member = try r.bool("member")
        h.unseen = try r.bool("unseen")
        h.service = try r.choice("service", ServiceState.self)
        h.fence = try r.choice("fence", FenceState.self)
        let processes = try r.object("processes")
        for (name, v) in processes.members { h.processes[name] = try ProcessHealth.decode(v, at: processes.sub(name)) }
        h.recovery = try r.optional("recovery").map { v throws(ScenarioError) in try HostRecovery.decode(v, at: r.sub("recovery")) }
        h.fencedAt = try r.list("fenced_at") { v, p throws(ScenarioError) in try ObjectReader.number(v, at: p) }
        h.readmissionFailed = try r.bool("readmission_failed")
        h.readmissionFailedAt = try r.optionalNumber("readmission_failed_at")
        h.failureCount = Int(try r.uint64("failure_count"))
        h.aggregates = try r.stringList("aggregates")
        h.availabilityZone = try r.optionalText("availability_zone")
        h.drain = try r.optional("drain").map { v throws(ScenarioError) in try Drain.decode(v, at: r.sub("drain")) }
        try h.readMasakariFields(&r)
        try r.finish()
        return h
    }
}

extension ProcessHealth {
    var json: JSONValue {
        .object([
            ("failed", .bool(failed)), ("failures", .int(failures)), ("last_failure_at", .optional(lastFailureAt)),
            ("blocked", .optional(blocked)),
        ])
    }

    static func decode(_ v: JSONValue, at path: String) throws(ScenarioError) -> ProcessHealth {
        var r = try ObjectReader(v, at: path)
        var p = ProcessHealth()
        p.failed = try r.bool("failed")
        p.failures = Int(try r.uint64("failures"))
        p.lastFailureAt = try r.optionalNumber("last_failure_at")
        p.blocked = try r.optionalText("blocked")
        try r.finish()
        return p
    }
}

extension HostRecovery {
    var json: JSONValue {
        .object([
            ("cause", .string(cause.rawValue)), ("detected_at", .number(detectedAt)), ("started_at", .optional(startedAt)),
            ("fence_attempts", .int(fenceAttempts)), ("fence_failed_at", .optional(fenceFailedAt)),
            ("service_step_failed_at", .optional(serviceStepFailedAt)), ("targets", .array(targets.map { .strings($0) })),
            ("force_down", .string(forceDown.rawValue)), ("disable", .string(disable.rawValue)), ("finished", .bool(finished)),
            ("rejoined_at", .optional(rejoinedAt)),
        ])
    }

    static func decode(_ v: JSONValue, at path: String) throws(ScenarioError) -> HostRecovery {
        var r = try ObjectReader(v, at: path)
        var h = HostRecovery(cause: try r.choice("cause", FailureCause.self), detectedAt: try r.number("detected_at"))
        h.startedAt = try r.optionalNumber("started_at")
        h.fenceAttempts = Int(try r.uint64("fence_attempts"))
        h.fenceFailedAt = try r.optionalNumber("fence_failed_at")
        h.serviceStepFailedAt = try r.optionalNumber("service_step_failed_at")
        h.targets = try r.list("targets") { v, p throws(ScenarioError) in
            guard case .array(let items) = v else { throw ScenarioError(p, "expected an array, found \(v.typeName)") }
            var out: [String] = []
            for (n, x) in items.enumerated() { out.append(try ObjectReader.string(x, at: "\(p)[\(n)]")) }
            return out
        }
        h.forceDown = try r.choice("force_down", StepState.self)
        h.disable = try r.choice("disable", StepState.self)
        h.finished = try r.bool("finished")
        h.rejoinedAt = try r.optionalNumber("rejoined_at")
        try r.finish()
        return h
    }
}

extension Instance {
    var stateJSON: JSONValue {
        .object([
            ("id", .string(id)), ("host", .string(host)), ("ha", .bool(ha)), ("tag", .string(tag.rawValue)),
            ("project", .optional(project)), ("priority", .int(priority)), ("flavor", flavor.json),
            ("state", .string(state.rawValue)), ("failures", .int(failures)), ("last_failure_at", .optional(lastFailureAt)),
            ("evacuating_to", .optional(evacuatingTo)), ("evacuation_interrupted_at", .optional(evacuationInterruptedAt)),
            ("evacuation_failures", .int(evacuationFailures)),
            ("failed_targets", .strings(failedTargets)), ("gave_up_at", .optional(gaveUpAt)),
        ])
    }

    static func decodeState(_ v: JSONValue, at path: String) throws(ScenarioError) -> Instance {
        var r = try ObjectReader(v, at: path)
        var i = Instance(
            id: try r.string("id"), host: try r.string("host"), ha: try r.bool("ha"), priority: try r.int("priority"),
            flavor: try Scenario.parseCapacity(try r.required("flavor"), at: r.sub("flavor")))
        i.tag = try r.optional("tag").map { v throws(ScenarioError) in try ObjectReader.choice(v, at: r.sub("tag"), HATag.self) } ?? (i.ha ? .on : .none)
        i.project = try r.optionalText("project")
        i.state = try r.choice("state", InstanceState.self)
        i.failures = Int(try r.uint64("failures"))
        i.lastFailureAt = try r.optionalNumber("last_failure_at")
        i.evacuatingTo = try r.optionalText("evacuating_to")
        i.evacuationInterruptedAt = try r.optionalNumber("evacuation_interrupted_at")
        i.evacuationFailures = Int(try r.uint64("evacuation_failures"))
        i.failedTargets = try r.stringList("failed_targets")
        i.gaveUpAt = try r.optionalNumber("gave_up_at")
        try r.finish()
        return i
    }
}

extension Drain {
    public var json: JSONValue {
        .object([
            ("requested_at", .number(requestedAt)), ("finished_at", .optional(finishedAt)), ("total", .int(total)), ("moved", .int(moved)),
            ("blocked", .object(blocked.keys.sorted().map { ($0, .string(blocked[$0]!)) })),
        ])
    }

    static func decode(_ v: JSONValue, at path: String) throws(ScenarioError) -> Drain {
        var r = try ObjectReader(v, at: path)
        var d = Drain(requestedAt: try r.number("requested_at"), total: try r.int("total"))
        d.finishedAt = try r.optionalNumber("finished_at")
        d.moved = try r.int("moved")
        let blocked = try r.object("blocked")
        for (id, why) in blocked.members { d.blocked[id] = try ObjectReader.string(why, at: blocked.sub(id)) }
        try r.finish()
        return d
    }
}
