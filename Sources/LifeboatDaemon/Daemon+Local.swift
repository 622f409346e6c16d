import Foundation
import LifeboatAgents
import LifeboatCore
import LifeboatReplication
import LifeboatSystem

/// Work this host carries out for the leader because it is local here (`restart_process`:
/// the agent's stop and start run where the process lives), and the resource monitors that
/// feed the leader. The `LocalConductor` decides (pure); this file runs its directives.
extension Daemon {
    /// This node's host name in the configuration.
    var localHost: String? { replica.flatMap { r in r.state.hostName(nodeID: r.nodeID) } }

    func localStep() {
        guard let r = replica else { return }
        let directives = localConductor.step(
            r.state, host: localHost, synced: r.synced && session != nil, executable: Set(executors.keys))
        for d in directives { interpretLocal(d) }
        if r.state.configVersion != monitoredConfig || localHost != monitoredHost {
            monitoredConfig = r.state.configVersion
            monitoredHost = localHost
            let monitor = monitor
            Task { await monitor.reconcile() }
        }
    }

    func interpretLocal(_ d: Conductor.Directive) {
        switch d {
        case .send(let event, let request): send(event, request: request)
        case .execute(let record): executeLocal(record)
        case .cancel(let record, let reason):
            Log.warning("cancelling \(record.key) attempt \(record.attempt) here: \(reason)")
            localTasks[record.key]?.task.cancel()
            executors[record.action.kind]?.abort(record.attempt)
        case .log(let line): Log.info(line)
        }
    }

    func executeLocal(_ record: ActionRecord) {
        guard let executor = executors[record.action.kind] else { return }
        let shared = shared
        let key = record.key
        let attempt = record.attempt
        let timeout = configuration.actionTimeout
        // The leader recorded the start; this host acts while that attempt is in flight.
        let context = ExecutionContext(
            attempt: attempt, startedAt: record.startedAt, deadline: .now + .seconds(timeout),
            check: { shared.state?.inFlight[key]?.attempt == attempt ? nil : "the attempt is no longer in flight" })
        Log.info("executing \(key) attempt \(attempt) here, for the leader")
        let task = Task.detached { [weak self] in
            let report = await executor.execute(record.action, context: context)
            await self?.localDone(record, report)
        }
        localTasks[key] = Run(attempt: attempt, task: task)
    }

    func localDone(_ record: ActionRecord, _ report: ActionReport) {
        if localTasks[record.key]?.attempt == record.attempt { localTasks[record.key] = nil }
        Log.info("\(record.key) attempt \(record.attempt) finished here \(report.outcome.rawValue)\(report.message.map { ": \($0)" } ?? "")")
        for d in localConductor.executorFinished(record, report) { interpretLocal(d) }
    }

    /// `lifeboat resource list|show`: every configured resource on every host it applies
    /// to, with what the cluster recorded (failures, blocked) and, for this host, what its
    /// monitor last saw.
    func resources(_ request: JSONValue) async -> JSONValue {
        guard let r = replica else { return ControlServer.error("not connected to corosync yet") }
        let s = r.state
        var wanted: String? = nil
        if case .string(let n) = request["name"] ?? .null {
            guard s.resources.contains(where: { $0.name == n }) else {
                return ControlServer.error("no resource '\(n)' is configured (lifeboat resource list)")
            }
            wanted = n
        }
        let me = localHost
        let seen = await monitor.observations
        var rows: [JSONValue] = []
        for res in s.resources.sorted(by: { $0.name < $1.name }) where wanted == nil || wanted == res.name {
            for h in s.hostOrder where res.applies(to: s.hosts[h]!) {
                let health = s.hosts[h]!.processes[res.name] ?? ProcessHealth()
                let key = Action.restartProcess(host: h, process: res.name).key
                let state =
                    health.blocked != nil ? "blocked" : s.inFlight[key] != nil ? "restarting" : health.failed ? "failed"
                    : !s.hosts[h]!.member ? "host_down" : s.hosts[h]!.maintenance ? "unmanaged" : "running"
                var f: [(String, JSONValue)] = [
                    ("name", .string(res.name)), ("host", .string(h)), ("agent", .string(res.agent)), ("state", .string(state)),
                    ("failures", .int(health.failures)), ("last_failure_at", .optional(health.lastFailureAt)),
                    ("blocked", .optional(health.blocked)), ("restart_limit", .int(res.restartLimit ?? s.policy.processRestartLimit)),
                    ("on_fail", .string(res.onFail.rawValue)), ("monitor_interval", .number(res.monitorInterval)),
                ]
                if wanted != nil { f.append(("spec", res.json)) }
                if h == me, let o = seen[res.name] {
                    f.append(("last_monitor", .object([
                        ("at", .number(o.at)), ("rc", o.rc.map { .int(Int($0)) } ?? .null), ("summary", .string(o.summary)),
                        ("duration_ms", .int(o.durationMS)),
                    ])))
                }
                rows.append(.object(f))
            }
        }
        let restarts: [JSONValue] = s.actionLog.filter { $0.record.action.kind == "restart_process" && (wanted == nil || $0.record.action.key.hasSuffix(":\(wanted!)")) }
            .suffix(20).map(\.json)
        return .object([("ok", .bool(true)), ("resources", .array(rows)), ("restarts", .array(restarts)), ("local_host", .optional(me))])
    }
}
