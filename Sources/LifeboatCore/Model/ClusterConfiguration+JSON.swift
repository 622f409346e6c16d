/// The configuration written back in the scenario's `cluster` format (what
/// `ClusterConfiguration.parse` reads), for `lifeboat config show` and operators' files.
extension ClusterConfiguration {
    public var json: JSONValue {
        func cap(_ c: Capacity) -> JSONValue {
            .object([("vcpus", .number(Double(c.vcpus))), ("ram_mb", .number(Double(c.ramMB))), ("disk_gb", .number(Double(c.diskGB)))])
        }
        let p = policy
        return .object([
            ("segments", .array(segments.map { s in
                .object([("name", .string(s.name)), ("recovery_method", .string(s.recoveryMethod.rawValue)), ("enabled", .bool(s.enabled))])
            })),
            ("hosts", .array(hosts.map { h in
                .object([
                    ("name", .string(h.name)), ("segment", .string(h.segment)), ("node_id", .number(Double(h.nodeID))),
                    ("reserved", .bool(h.reserved)), ("maintenance", .bool(h.maintenance)), ("capacity", cap(h.capacity)),
                ])
            })),
            ("instances", .array(instances.map { i in
                .object([
                    ("id", .string(i.id)), ("host", .string(i.host)), ("ha", .bool(i.ha)),
                    ("priority", .number(Double(i.priority))), ("flavor", cap(i.flavor)),
                ])
            })),
            ("policy", .object([
                ("process_restart_limit", .number(Double(p.processRestartLimit))),
                ("instance_restart_limit", .number(Double(p.instanceRestartLimit))),
                ("max_concurrent_host_recoveries", .number(Double(p.maxConcurrentHostRecoveries))),
                ("fence_attempt_limit", .number(Double(p.fenceAttemptLimit))),
                ("flap_limit", .number(Double(p.flapLimit))), ("flap_window", .number(p.flapWindow)),
                ("failure_timeout", .number(p.failureTimeout)),
                ("storm_threshold", .number(p.stormThreshold)), ("storm_window", .number(p.stormWindow)),
                ("readmit_reserve", .string(p.readmitReserve.rawValue)),
            ])),
        ])
    }
}
