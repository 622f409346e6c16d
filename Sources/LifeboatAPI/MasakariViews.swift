import LifeboatCore

/// Lifeboat's replicated state as Masakari's objects (S, H, N, V of MASAKARI-API.md §3):
/// pure functions of a `ClusterState`, the same on every node.


enum MasakariViews {
    static func time(_ t: Double) -> JSONValue { t > 0 ? .string(GeneratedTime.format(t)) : .null }

    /// Masakari leaves `updated_at` null until the first update.
    static func updated(_ id: RecordIdentity) -> JSONValue { id.updatedAt > id.createdAt ? time(id.updatedAt) : .null }

    /// A time as it sorts and compares in `time(_:)`'s text: whole microseconds, null when
    /// unset (the text has microseconds and a fixed width, so the order is the same).
    static func timeKey(_ t: Double) -> JSONValue { t > 0 ? .number(max(0, (t * 1_000_000).rounded())) : .null }

    /// What a list of notifications filters and sorts by, read from the record without
    /// rendering it (the same values `notification(_:…)` shows, times as `timeKey`).
    static func notificationField(_ n: NotificationRecord, _ key: String) -> JSONValue {
        switch key {
        case "id": .int(n.identity.serial)
        case "notification_uuid": .string(n.identity.uuid)
        case "type": .string(n.type.rawValue)
        case "status": .string(n.status.rawValue)
        case "generated_time", "generated-since": .string(n.generatedTime)
        case "source_host_uuid": .string(n.sourceHostUUID)
        case "failover_segment_uuid": .string(n.segmentUUID)
        case "created_at": timeKey(n.identity.createdAt)
        case "updated_at": n.identity.updatedAt > n.identity.createdAt ? timeKey(n.identity.updatedAt) : .null
        default: .null
        }
    }

    static func segment(_ s: Segment) -> JSONValue {
        .object([
            ("id", .int(s.identity.serial)), ("uuid", .string(s.identity.uuid)), ("name", .string(s.name)),
            ("description", .optional(s.description)), ("recovery_method", .string(s.recoveryMethod.rawValue)),
            ("service_type", .string(s.serviceType.isEmpty ? "COMPUTE" : s.serviceType)), ("enabled", .bool(s.enabled)),
            ("created_at", time(s.identity.createdAt)), ("updated_at", updated(s.identity)),
            ("deleted", .bool(false)), ("deleted_at", .null),
        ])
    }

    static func host(_ h: Host, in state: ClusterState) -> JSONValue {
        let seg = state.segments[h.segment]!
        return .object([
            ("id", .int(h.identity.serial)), ("uuid", .string(h.identity.uuid)), ("name", .string(h.name)),
            ("type", .string(h.type.isEmpty ? "COMPUTE" : h.type)), ("control_attributes", .string(h.controlAttributes ?? controlSummary(h))),
            ("reserved", .bool(h.reserved)), ("on_maintenance", .bool(h.maintenance)),
            ("failover_segment_id", .string(seg.identity.uuid)), ("failover_segment", segment(seg)),
            ("created_at", time(h.identity.createdAt)), ("updated_at", updated(h.identity)),
            ("deleted", .bool(false)), ("deleted_at", .null),
        ])
    }

    /// What Lifeboat fences the host with, for hosts configured without Masakari's
    /// free-text `control_attributes`.
    static func controlSummary(_ h: Host) -> String {
        let levels = h.fencing.levels.map { d -> String in
            switch d.kind {
            case .ipmi(let i): "ipmi \(i.address):\(i.port)"
            case .agent(let a): a.agent
            }
        }
        return levels.isEmpty ? "no fence device" : "fencing: " + levels.joined(separator: ", then ")
    }

    static func notification(_ n: NotificationRecord, version: Microversion, details: Bool, in state: ClusterState) -> JSONValue {
        var f: [(String, JSONValue)] = [
            ("id", .int(n.identity.serial)), ("notification_uuid", .string(n.identity.uuid)), ("type", .string(n.type.rawValue)),
            ("generated_time", .string(n.generatedTime)),
            ("payload", .object(n.payload.map { ($0.key, .string($0.value)) })),
            ("status", .string(n.status.rawValue)), ("source_host_uuid", .string(n.sourceHostUUID)),
            ("failover_segment_uuid", .string(n.segmentUUID)), ("message", .optional(n.message)),
            ("created_at", time(n.identity.createdAt)), ("updated_at", updated(n.identity)),
            ("deleted", .bool(false)), ("deleted_at", .null),
        ]
        if details && version >= Microversion(1, 1) {
            f.append(("recovery_workflow_details", .array(workflow(n, in: state).map(\.json))))
        }
        return .object(f)
    }

    // MARK: Workflow details (1.1)

    struct Step {
        var name: String
        var state: String
        var progress: Double
        var details: [(Double, String, Double)]

        var json: JSONValue {
            .object([
                ("name", .string(name)), ("state", .string(state)), ("progress", .number(progress)),
                ("progress_details", .array(details.map { t, m, p in
                    .object([("timestamp", .string(GeneratedTime.format(t))), ("message", .string(m)), ("progress", .number(p))])
                })),
            ])
        }
    }

    /// The actions of the recovery the notification follows: finished ones from the action
    /// log (each attempt with its outcome), those in flight, since the notification's start
    /// and, once it closed, until then.
    static func actions(_ n: NotificationRecord, in state: ClusterState) -> (done: [CompletedAction], running: [ActionRecord]) {
        let until = n.status.isOpen ? Double.infinity : n.identity.updatedAt + 0.001
        func mine(_ a: Action) -> Bool {
            switch n.type {
            case .computeHost:
                if case .evacuate(_, let from, _) = a { return from == n.hostname }
                return ["fence", "force_down", "disable_service"].contains(a.kind) && a.host == n.hostname
            case .process:
                if case .restartProcess(let h, let p) = a { return h == n.hostname && p == n.payloadValue("process_name") }
                if case .evacuate(_, let from, _) = a { return from == n.hostname }
                return ["fence", "force_down", "disable_service"].contains(a.kind) && a.host == n.hostname
            case .vm:
                let id = (n.payloadValue("instance_uuid") ?? "").lowercased()
                if case .restartInstance(let i, _) = a { return i.lowercased() == id }
                return false
            }
        }
        let done = state.actionLog.filter { c in mine(c.record.action) && c.record.startedAt >= n.since && c.record.startedAt <= until }
        let running = state.inFlight.values.filter { r in mine(r.action) && r.startedAt >= n.since }.sorted { $0.startedAt < $1.startedAt }
        return (done, running)
    }

    static func workflow(_ n: NotificationRecord, in state: ClusterState) -> [Step] {
        let (done, running) = actions(n, in: state)
        let order: [String]
        switch n.type {
        case .computeHost: order = ["fence", "force_down", "disable_service", "evacuate"]
        case .process: order = ["restart_process", "fence", "force_down", "disable_service", "evacuate"]
        case .vm: order = ["restart_instance"]
        }
        var steps: [Step] = []
        for kind in order {
            let finished = done.filter { $0.record.action.kind == kind }
            let inFlight = running.filter { $0.action.kind == kind }
            guard !finished.isEmpty || !inFlight.isEmpty else { continue }
            var details: [(Double, String, Double)] = []
            for c in finished {
                details.append((c.record.startedAt, "\(c.record.action.key) started (attempt \(c.record.attempt))", 0))
                let outcome = c.report.outcome.succeeded ? "succeeded" : c.report.outcome.rawValue
                var m = "\(c.record.action.key) \(outcome)"
                if let msg = c.report.message, !msg.isEmpty { m += ": \(msg)" }
                if let ms = c.report.durationMS { m += " (\(ms) ms)" }
                details.append((c.finishedAt, m, c.report.outcome.succeeded ? 1 : 0))
            }
            for r in inFlight { details.append((r.startedAt, "\(r.action.key) started (attempt \(r.attempt))", 0)) }
            details.sort { $0.0 < $1.0 }
            let keys = Set(finished.map(\.record.action.key) + inFlight.map(\.action.key))
            let succeededKeys = Set(finished.filter { $0.report.outcome.succeeded }.map(\.record.action.key))
            let progress = keys.isEmpty ? 0 : Double(succeededKeys.count) / Double(keys.count)
            let stateName: String
            if !inFlight.isEmpty {
                stateName = "RUNNING"
            } else if succeededKeys == keys {
                stateName = "SUCCESS"
            } else {
                stateName = "FAILURE"
            }
            steps.append(Step(name: stepName(kind), state: stateName, progress: (progress * 100).rounded() / 100, details: details))
        }
        return steps
    }

    static func stepName(_ kind: String) -> String {
        switch kind {
        case "fence": "FenceHostTask"
        case "force_down": "ForceDownComputeServiceTask"
        case "disable_service": "DisableComputeServiceTask"
        case "evacuate": "EvacuateInstancesTask"
        case "restart_process": "RestartProcessTask"
        case "restart_instance": "RestartInstanceTask"
        default: kind
        }
    }

    // MARK: vmoves (1.3)

    /// One record per instance the host recovery moved or has to move, from its latest
    /// evacuation attempt (earlier failed attempts are named in its message).
    static func vmoves(_ n: NotificationRecord, in state: ClusterState) -> [JSONValue] {
        let (done, running) = actions(n, in: state)
        var order: [String] = []
        var attempts: [String: [(start: Double, end: Double?, to: String, outcome: String, message: String?)]] = [:]
        for c in done {
            guard case .evacuate(let i, _, let to) = c.record.action else { continue }
            if attempts[i] == nil { order.append(i) }
            attempts[i, default: []].append((c.record.startedAt, c.finishedAt, to, c.report.outcome.rawValue, c.report.message))
        }
        for r in running {
            guard case .evacuate(let i, _, let to) = r.action else { continue }
            if attempts[i] == nil { order.append(i) }
            attempts[i, default: []].append((r.startedAt, nil, to, "ongoing", nil))
        }
        if n.status.isOpen {
            for inst in state.instances(on: n.hostname) where (inst.ha || state.policy.evacuateAll) && attempts[inst.id] == nil {
                order.append(inst.id)
                attempts[inst.id] = []
            }
        }
        return order.enumerated().map { index, id in
            let list = attempts[id]!
            let last = list.last
            let status: String
            switch last?.outcome {
            case nil: status = "pending"
            case "ongoing": status = "ongoing"
            case "ok": status = "succeeded"
            default: status = "failed"
            }
            let earlier = list.dropLast().map { "to \($0.to): \($0.outcome)\($0.message.map { " (\($0))" } ?? "")" }
            var message = last?.message
            if !earlier.isEmpty { message = ([message].compactMap { $0 } + ["earlier attempts " + earlier.joined(separator: "; ")]).joined(separator: "; ") }
            return .object([
                ("id", .int(index + 1)), ("uuid", .string(RecordIdentity.derivedUUID("vmove", "\(n.identity.uuid)/\(id)"))),
                ("notification_uuid", .string(n.identity.uuid)), ("instance_uuid", .string(id)), ("instance_name", .string(id)),
                ("source_host", .string(n.hostname)), ("dest_host", last.map { .string($0.to) } ?? .null),
                ("start_time", last.map { time($0.start) } ?? .null), ("end_time", last?.end.map { time($0) } ?? .null),
                ("status", .string(status)), ("type", .string("evacuation")), ("message", .optional(message)),
                ("created_at", time(list.first?.start ?? n.identity.createdAt)), ("updated_at", .null),
                ("deleted", .bool(false)), ("deleted_at", .null),
            ])
        }
    }
}
