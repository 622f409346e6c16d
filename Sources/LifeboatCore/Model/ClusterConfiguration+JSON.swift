/// The configuration written back in the scenario's `cluster` format (what
/// `ClusterConfiguration.parse` reads), for `lifeboat config show` and operators' files.
extension ClusterConfiguration {
    public var json: JSONValue {
        .object([
            ("segments", .array(segments.map { s in
                .object([("name", .string(s.name)), ("recovery_method", .string(s.recoveryMethod.rawValue)), ("enabled", .bool(s.enabled))] + s.masakariFields)
            })),
            ("hosts", .array(hosts.map(\.configurationJSON))),
            ("instances", .array(instances.map { i in
                var f: [(String, JSONValue)] = [("id", .string(i.id)), ("host", .string(i.host)), ("ha", .bool(i.tag == .on))]
                if i.tag == .off { f.append(("ha_opt_out", .bool(true))) }
                if let p = i.project { f.append(("project", .string(p))) }
                return .object(f + [("priority", .number(Double(i.priority))), ("flavor", i.flavor.json)])
            })),
            ("policy", policy.json),
        ] + (resources.isEmpty ? [] : [("resources", .array(resources.map(\.json)))])
            + (haRules.isEmpty ? [] : [("ha_rules", .array(haRules.map(\.json)))])
            + (detachedHosts.isEmpty ? [] : [("detached_hosts", .array(detachedHosts.map(\.configurationJSON)))]))
    }
}

extension Host {
    /// A host in the configuration's format (what `Scenario.parseHosts` reads).
    var configurationJSON: JSONValue {
                let h = self
                var f: [(String, JSONValue)] = [
                    ("name", .string(h.name)), ("segment", .string(h.segment)), ("node_id", .number(Double(h.nodeID))),
                    ("reserved", .bool(h.reserved)), ("maintenance", .bool(h.maintenance)), ("capacity", h.capacity.json),
                ]
                if h.fencing != FenceTopology() { f.append(("fencing", h.fencing.json)) }
                if !h.aggregates.isEmpty { f.append(("aggregates", .strings(h.aggregates))) }
                if let z = h.availabilityZone { f.append(("availability_zone", .string(z))) }
                return .object(f + h.masakariFields)
    }
}

extension Policy {
    /// The `policy` object of the scenario's `cluster` format (what `parsePolicy` reads).
    public var json: JSONValue {
        .object([
            ("process_restart_limit", .number(Double(processRestartLimit))),
            ("instance_restart_limit", .number(Double(instanceRestartLimit))),
            ("max_concurrent_host_recoveries", .number(Double(maxConcurrentHostRecoveries))),
            ("fence_attempt_limit", .number(Double(fenceAttemptLimit))), ("fence_retry_interval", .number(fenceRetryInterval)),
            ("flap_limit", .number(Double(flapLimit))), ("flap_window", .number(flapWindow)),
            ("failure_timeout", .number(failureTimeout)),
            ("storm_threshold", .number(stormThreshold)), ("storm_window", .number(stormWindow)),
            ("readmit_reserve", .string(readmitReserve.rawValue)),
            ("startup_fencing", .bool(startupFencing)), ("startup_grace", .number(startupGrace)),
            ("clock_skew_limit", .number(clockSkewLimit)), ("priority_fencing_delay", .number(priorityFencingDelay)),
            ("evacuation_attempt_limit", .int(evacuationAttemptLimit)), ("evacuation_retry_interval", .number(evacuationRetryInterval)),
            ("nova_retry_interval", .number(novaRetryInterval)),
            ("evacuate_all", .bool(evacuateAll)),
            ("max_parallel_migrations", .int(maxParallelMigrations)), ("drain_to_reserved", .bool(drainToReserved)),
            ("migration_attempt_limit", .int(migrationAttemptLimit)),
            ("notice_retention", .number(Double(noticeRetention))),
            ("action_log_retention", .number(Double(actionLogRetention))),
            ("history_retention", .number(Double(historyRetention))),
            ("retention_age", .number(retentionAge)),
            ("archive_retention", .int(archiveRetention)), ("archive_retention_age", .number(archiveRetentionAge)),
            ("notification_retention", .int(notificationRetention)),
            ("duplicate_notification_interval", .number(duplicateNotificationInterval)),
        ])
    }
}

extension Capacity {
    public var json: JSONValue {
        .object([("vcpus", .number(Double(vcpus))), ("ram_mb", .number(Double(ramMB))), ("disk_gb", .number(Double(diskGB)))])
    }
}

extension HARule {
    public var json: JSONValue {
        var f: [(String, JSONValue)] = [("name", .string(name))]
        if let project { f.append(("project", .string(project))) }
        if let aggregate { f.append(("aggregate", .string(aggregate))) }
        if let availabilityZone { f.append(("availability_zone", .string(availabilityZone))) }
        if let host { f.append(("host", .string(host))) }
        if let segment { f.append(("segment", .string(segment))) }
        return .object(f + [("protect", .bool(protect)), ("priority", .int(priority))])
    }
}
