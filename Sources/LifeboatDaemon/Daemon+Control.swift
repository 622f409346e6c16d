import Foundation
import LifeboatCore
import LifeboatHistory
import LifeboatSystem
import LifeboatReplication

/// The control socket's requests (the `lifeboat` CLI): status, configuration, history,
/// operator events.
extension Daemon {
    /// Answers one control request.
    ///
    /// No copy of the replica is held across a suspension: `replica!` is read before each
    /// case's first `await`, where the actor guarantees it is still there. While a request
    /// waits for its write or for SQLite, the daemon applies other events, and a copy held
    /// here made each of them copy the arrays it changed: under 200 commands a second, a
    /// notification's apply copied all 10,000 notifications kept, and the history window.
    public func handleRequest(_ request: JSONValue) async -> JSONValue {
        guard case .string(let cmd) = request["cmd"] ?? .null else { return ControlServer.error("request needs a \"cmd\"") }
        guard replica != nil else { return ControlServer.error("not connected to corosync yet") }
        switch cmd {
        case "status":
            return .object([("ok", .bool(true)), ("status", await fullStatus())])
        case "config":
            return .object([
                ("ok", .bool(true)), ("version", .uint(replica!.state.configVersion)), ("cluster", replica!.state.configuration.json),
            ])
        case "history":
            var limit = 50
            if case .number(let n) = request["limit"] ?? .null { limit = Int(max(0, min(n, 1_000_000))) }
            var fields = historyFields(replica!, limit: limit)
            guard let db = history else { return .object([("ok", .bool(true))] + fields + [("durable", await historyStatus())]) }
            switch await Self.offActor({ try HistoryService.records(db, request) }) {
            case .success(let more): fields += more
            case .failure(let e): return ControlServer.error("\(e)")
            }
            return .object([("ok", .bool(true))] + fields)
        case "incident", "incidents", "report":
            guard let db = history else { return ControlServer.error("the durable history is not available on this node: \(historyError ?? "not opened")") }
            let protected = Self.protectedInstances(replica!.state, segment: request["segment"].flatMap { if case .string(let s) = $0 { s } else { nil } })
            let now = now()
            let result = await Self.offActor { () throws -> [(String, JSONValue)] in
                switch cmd {
                case "incident":
                    guard case .number(let id) = request["id"] ?? .null, id >= 1, id == id.rounded(), id < 1e15 else {
                        throw HistoryError("'id' must be an incident number")
                    }
                    return try HistoryService.incident(db, id: Int(id))
                case "incidents": return try HistoryService.incidents(db, request)
                default: return try HistoryService.report(db, request, now: now, protectedInstances: protected)
                }
            }
            switch result {
            case .success(let fields): return .object([("ok", .bool(true))] + fields)
            case .failure(let e): return ControlServer.error("\(e)")
            }
        case "event":
            let event: Event
            do { event = try Scenario.parseCommandEvent(request["event"] ?? .null, state: replica!.state) } catch {
                return ControlServer.error("invalid event: \(error)")
            }
            // Membership, quorum and monitor results come from Corosync and the monitors,
            // never from the socket.
            guard Self.operatorEventKinds.contains(event.kind) else {
                return ControlServer.error(
                    "'\(event.kind)' is not an operator command (one of: \(Self.operatorEventKinds.sorted().joined(separator: ", ")))")
            }
            if case .haTag(let i, let tag) = event, let why = await writeHATag(i, tag) { return ControlServer.error(why) }
            return answer(await submit(event))
        case "bmc":
            return await bmc(request)
        case "ha":
            return Self.haAnswer(request, replica!.state)
        case "resources":
            return await resources(request)
        case "configure":
            let c: ClusterConfiguration
            do { c = try ClusterConfiguration.parse(request["cluster"] ?? .null) } catch {
                return ControlServer.error("invalid configuration: \(error)")
            }
            return answer(await submit(.configure(c)))
        default:
            return ControlServer.error(
                "unknown command '\(cmd)' (status, config, history, incident, incidents, report, event, configure, bmc, resources)")
        }
    }

    /// `lifeboat ha explain|policy list`: why an instance is (not) protected; the rules in
    /// the order they are tried, with how many instances each decides.
    static func haAnswer(_ request: JSONValue, _ s: ClusterState) -> JSONValue {
        if case .string(let id) = request["explain"] ?? .null {
            guard let i = s.instances[id] else { return ControlServer.error("unknown instance '\(id)'") }
            let p = s.protection(of: i)
            return .object([
                ("ok", .bool(true)),
                ("protection", .object([
                    ("instance", .string(id)), ("host", .string(i.host)), ("protected", .bool(p.protected)), ("source", .string(p.source)),
                    ("rule", .optional(p.rule)), ("reason", .string(p.reason)), ("tag", .string(i.tag.rawValue)), ("project", .optional(i.project)),
                    ("aggregates", .strings(s.hosts[i.host]?.aggregates ?? [])), ("availability_zone", .optional(s.hosts[i.host]?.availabilityZone)),
                ])),
            ])
        }
        var decided: [String: Int] = [:]
        for i in s.instances.values { if let rule = s.protection(of: i).rule { decided[rule, default: 0] += 1 } }
        let rules: [JSONValue] = s.haRules.sorted { ($1.priority, $0.name) < ($0.priority, $1.name) }.map { rule in
            guard case .object(let f) = rule.json else { return rule.json }
            return .object(f + [("criteria", .string(rule.criteria)), ("instances", .int(decided[rule.name] ?? 0))])
        }
        return .object([("ok", .bool(true)), ("rules", .array(rules)), ("evacuate_all", .bool(s.policy.evacuateAll))])
    }

    /// Runs a blocking query on a thread of the global pool, not on this actor.
    static func offActor<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async -> Result<T, any Error> {
        await Task.detached { Result { try body() } }.value
    }

    /// HA instances in a segment (or everywhere): the report's denominator.
    static func protectedInstances(_ s: ClusterState, segment: String?) -> Int {
        s.instances.values.filter { i in
            (i.ha || s.policy.evacuateAll) && (segment == nil || s.hosts[i.host]?.segment == segment)
        }.count
    }

    /// `status` with the VM monitor's part (the control socket's and the API's). The
    /// replica's part is taken first, and no copy of the replica waits through the awaits.
    func fullStatus() async -> JSONValue {
        guard case .object(var f) = replica.map(status) ?? .null else { return .object([("connected", .bool(false))]) }
        f.append(("vm_monitor", await vmMonitorStatus()))
        f.append(("history", await historyStatus()))
        return .object(f)
    }

    /// The last `limit` history entries and actions, every notice, and what was pruned.
    func historyFields(_ r: Replica, limit: Int) -> [(String, JSONValue)] {
        let entries: [JSONValue] = r.history.suffix(limit).map(\.json)
        let notices: [JSONValue] = r.state.notices.map { n in
            .object([
                ("at", .number(n.at)), ("kind", .string(n.notice.kind.rawValue)), ("reason", .string(n.notice.reason)),
                ("host", .optional(n.notice.host)), ("instance", .optional(n.notice.instance)),
            ])
        }
        let actions: [JSONValue] = r.state.actionLog.suffix(limit).map(\.json)
        return [
            ("history", .array(entries)), ("notices", .array(notices)), ("actions", .array(actions)),
            ("pruned_history", .int(r.prunedHistory)), ("pruned_notices", .int(r.state.prunedNotices)),
            ("pruned_actions", .int(r.state.prunedActions)),
        ]
    }

    func vmMonitorStatus() async -> JSONValue {
        guard let vmMonitor else { return .object([("configured", .bool(false))]) }
        let recent: [JSONValue] = await vmMonitor.recent.suffix(20).map { v in
            .object([("at", .number(v.at)), ("instance", .string(v.instance)), ("event", .string(v.event)), ("verdict", .string(v.verdict))])
        }
        return .object([
            ("configured", .bool(true)), ("uri", .string(vmMonitor.uri)), ("connected", .bool(await vmMonitor.connected)),
            ("error", .optional(await vmMonitor.lastError)), ("recent", .array(recent)),
        ])
    }

    func novaStatus() -> JSONValue {
        guard let settings = configuration.openstack else { return .object([("configured", .bool(false))]) }
        return .object([
            ("configured", .bool(true)), ("cloud", .optional(settings.cloud)),
            ("inventory_refreshed_at", .optional(inventory.lastOK)), ("error", .optional(inventory.error)),
        ])
    }

    /// Each open host recovery: its phase, what is moved, in flight and waiting, the last
    /// error of its Nova steps, and every HA instance's state.
    func recoveryProgress(_ s: ClusterState) -> [JSONValue] {
        s.hostOrder.compactMap { name -> JSONValue? in
            let h = s.hosts[name]!
            guard let r = h.recovery, !r.finished || h.fence.isOff && r.forceDown != .done else { return nil }
            let since = r.detectedAt
            let moved = s.actionLog.filter { c in
                if case .evacuate(_, let from, _) = c.record.action, from == name, c.finishedAt >= since, c.report.outcome == .ok { return true }
                return false
            }
            let mine = s.instances(on: name).filter(\.ha)
            let inFlight = mine.filter { $0.state == .evacuating }.count
            let waiting = mine.filter { $0.state == .active || $0.state == .failed }.count
            let lastError = s.actionLog.last { c in
                c.record.action.host == name && c.finishedAt >= since && !c.report.outcome.succeeded
                    && ["force_down", "disable_service", "evacuate"].contains(c.record.action.kind)
            }.flatMap(\.report.message)
            let instances: [JSONValue] =
                mine.map { i in
                    .object([("id", .string(i.id)), ("state", .string(i.state.rawValue)), ("to", .optional(i.evacuatingTo))])
                } + moved.compactMap { c in
                    guard case .evacuate(let i, _, let to) = c.record.action else { return nil }
                    return .object([("id", .string(i)), ("state", .string("active")), ("to", .string(to))])
                }
            return .object([
                ("host", .string(name)), ("cause", .string(r.cause.rawValue)), ("fenced", .bool(h.fence.isOff)),
                ("force_down", .string(r.forceDown.rawValue)), ("disable", .string(r.disable.rawValue)),
                ("moved", .int(moved.count)), ("in_flight", .int(inFlight)), ("waiting", .int(waiting)),
                ("total", .int(moved.count + inFlight + waiting)), ("last_error", .optional(lastError)),
                ("instances", .array(instances)),
            ])
        }
    }

    /// What the leader decided and no executor of this build carries out (the same on every
    /// node: they run the same build).
    func waitingForExecutor(_ s: ClusterState) -> [String] {
        guard s.quorate else { return [] }
        return Scheduler.plan(s).filter { a in
            if case .notify = a { return false }
            return executors[a.kind] == nil
        }.map(\.key).sorted()
    }

    static let operatorEventKinds: Set<String> = [
        "maintenance", "fence_confirmed_by_operator", "fence_requested", "segment_enabled", "reserved", "ha", "storm_reset",
        "resource_cleanup", "resource_restart", "ha_rule_saved", "ha_rule_removed", "drain", "segment_maintenance",
    ]

    func answer(_ rejected: String?) -> JSONValue {
        if let rejected { return ControlServer.error(rejected) }
        return .object([
            ("ok", .bool(true)), ("epoch", .uint(replica?.state.epoch ?? 0)),
            ("config_version", .uint(replica?.state.configVersion ?? 0)),
        ])
    }

    func status(_ r: Replica) -> JSONValue {
        let s = r.state
        func name(_ id: UInt32) -> String { nodeName(id) }
        let leader = r.effectiveLeader
        let memberNodes = Set(r.members.map(\.node))
        let hosts: [JSONValue] = s.hostOrder.map { hn in
            let h = s.hosts[hn]!
            let running = memberNodes.contains(h.nodeID)
            let role =
                h.nodeID == leader ? "leader" : running ? "member" : h.member ? "no-lifeboatd" : h.unseen ? "unseen" : "offline"
            var recovery: JSONValue = .null
            if let rec = h.recovery {
                let phase =
                    rec.finished
                    ? "finished"
                    : h.fence.isOff
                        ? (rec.forceDown == .done ? "evacuating" : "forcing_down")
                        : h.fence == .failed ? "fence_failed" : rec.startedAt == nil ? "queued" : "fencing"
                recovery = .object([("cause", .string(rec.cause.rawValue)), ("phase", .string(phase))])
            }
            return .object([
                ("name", .string(hn)), ("node_id", .uint(h.nodeID)), ("segment", .string(h.segment)),
                ("role", .string(role)), ("member", .bool(h.member)), ("maintenance", .bool(h.maintenance)),
                ("reserved", .bool(h.reserved)), ("fenced", .bool(h.fence.isOff)), ("service", .string(h.service.rawValue)),
                ("recovery", recovery),
            ])
        }
        let inFlight: [JSONValue] = s.inFlight.keys.sorted().map { k in
            let rec = s.inFlight[k]!
            return .object([
                ("key", .string(k)), ("attempt", .string(rec.attempt.description)), ("started_at", .number(rec.startedAt)),
                ("leader", rec.leader.map { .string(name($0)) } ?? .null),
            ])
        }
        let pending: [JSONValue] = s.pendingNotices.map { n in
            .object([("kind", .string(n.kind.rawValue)), ("reason", .string(n.reason))])
        }
        let localNow = now()
        return .object([
            ("node", .string(name(r.nodeID))), ("node_id", .uint(r.nodeID)),
            ("members", .array(r.members.map { .string(name($0.node)) })),
            ("member_ids", .array(r.members.map { .uint($0.node) })),
            ("silent_members", .array(r.silent.sorted().map { .string($0.description) })),
            ("quorate", .bool(r.localQuorate)),
            ("quorum_lost_at", .optional(r.quorumLostAt)),
            ("leader", leader.map { .string(name($0)) } ?? .null),
            ("leader_of_record", r.leader.map { .string(name($0.node)) } ?? .null),
            ("acting", .bool(r.mayAct)), ("not_acting_because", .optional(r.notActingBecause)),
            ("term", .uint(s.term)), ("term_holder", s.termHolder.map { .string(name($0.node)) } ?? .null),
            ("membership_agrees", .bool(r.membershipAgrees)),
            ("epoch", .uint(s.epoch)), ("config_version", .uint(s.configVersion)),
            ("cluster_time", .number(s.now)), ("clock_offset", .number((r.clockOffset * 1000).rounded() / 1000)),
            ("clock_estimate", .number(r.clusterTime(localNow))),
            ("synced", .bool(r.synced)), ("connected", .bool(session != nil)),
            ("hosts", .array(hosts)), ("instances", .int(s.instances.count)),
            ("in_flight", .array(s.inFlight.keys.sorted().map { .string($0) })),
            ("in_flight_attempts", .array(inFlight)),
            ("executing", .array(conductor.running.keys.sorted().map { .string($0) })),
            ("executing_here", .array(localConductor.running.keys.sorted().map { .string($0) })),
            ("waiting_for_executor", .array(waitingForExecutor(s).map { .string($0) })),
            ("pending_notices", .array(pending)),
            ("notices", .int(s.notices.count)), ("rejected_messages", .int(r.rejectedMessages)),
            ("stale_results", .int(r.staleResults)),
            ("history_entries", .int(r.history.count)), ("pruned_history", .int(r.prunedHistory)),
            ("pruned_notices", .int(s.prunedNotices)), ("pruned_actions", .int(s.prunedActions)),
            ("store_error", .optional(storeError)),
            ("incidents", .array(s.incidents.map(HistoryService.json))),
            ("nova", novaStatus()),
            ("recoveries", .array(recoveryProgress(s))),
            ("drains", .array(drainProgress(s))),
        ])
    }

    /// Each drain: moved of total, in flight, waiting, what stays and why, and when it ended.
    func drainProgress(_ s: ClusterState) -> [JSONValue] {
        s.hostOrder.compactMap { name -> JSONValue? in
            guard let d = s.hosts[name]!.drain else { return nil }
            let mine = s.instances(on: name)
            let moving = mine.filter { $0.state == .migrating }
            return .object([
                ("host", .string(name)), ("requested_at", .number(d.requestedAt)), ("finished_at", .optional(d.finishedAt)),
                ("total", .int(d.total)), ("moved", .int(d.moved)), ("in_flight", .int(moving.count)),
                ("waiting", .int(mine.count - moving.count - d.blocked.count)),
                ("empty", .bool(mine.isEmpty)),
                ("blocked", .object(d.blocked.keys.sorted().map { ($0, .string(d.blocked[$0]!)) })),
                ("moving", .array(moving.map { .object([("id", .string($0.id)), ("to", .optional($0.evacuatingTo))]) })),
            ])
        }
    }
}
