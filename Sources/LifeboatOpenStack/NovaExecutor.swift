import Foundation
import LifeboatCore

/// The Nova side of a recovery: force down and disable the fenced host's nova-compute
/// (force down first: disabling a dead compute that is not forced down blocks in nova-api),
/// evacuate each HA instance to the target the core chose and track it until it runs
/// there, restart an instance in place, and re-enable a host that came back. Every report
/// carries the detail (target, Nova request id, error, duration).
public final class NovaExecutor: ActionExecutor {
    public let kinds: Set<String> = ["force_down", "disable_service", "enable_service", "evacuate", "restart_instance", "migrate"]
    let cloud: CloudConnection
    let shared: SharedClusterState
    let slots: Slots
    let tracker = EvacuationTracker()
    public let evacuationTimeout: Double
    /// How long one live migration may take before it is reported as timed out.
    public let migrationTimeout: Double
    public let pollInterval: Double
    /// Un-forcing down answers 400 while finished evacuation records remain, until the
    /// returning nova-compute has cleaned them up (seconds after it starts): retried so long
    /// (less when its nova-compute is seen running and an agent can restart it).
    public let enableRetry: Double
    /// How long after a leader change dropped an evacuation's attempt its re-issue first
    /// looks at Nova: the dropped leader's request, if it sent one, has reached Nova and been
    /// recorded by then (Nova answers an evacuation in about 0.2 s in the lab).
    public let reissueSettle: Double

    public init(
        cloud: CloudConnection, shared: SharedClusterState, maxParallelEvacuations: Int = 50, evacuationTimeout: Double = 300,
        pollInterval: Double = 0.5, enableRetry: Double = 120, migrationTimeout: Double = 600, reissueSettle: Double = 3
    ) {
        self.reissueSettle = reissueSettle
        self.migrationTimeout = migrationTimeout
        self.cloud = cloud
        self.shared = shared
        slots = Slots(max(1, maxParallelEvacuations))
        self.evacuationTimeout = evacuationTimeout
        self.pollInterval = pollInterval
        self.enableRetry = enableRetry
    }

    public func execute(_ action: Action, context: ExecutionContext) async -> ActionReport {
        let start = ContinuousClock.now
        var report: ActionReport
        do {
            let nova = try await cloud.nova()
            switch action {
            case .forceDown(let h): report = try await forceDown(h, nova)
            case .disableService(let h): report = try await disable(h, nova)
            case .enableService(let h): report = try await enable(h, nova)
            case .evacuate(let i, let from, let to): report = try await evacuate(i, from: from, to: to, context: context, nova)
            case .restartInstance(let i, let h): report = try await restart(i, on: h, context: context, nova)
            case .migrate(let i, let from, let to): report = try await migrate(i, from: from, to: to, context: context, nova)
            default: report = ActionReport(.failed, message: "not a Nova action: \(action.kind)")
            }
        } catch {
            report = ActionReport(error.unreachable ? .timeout : .failed, message: error.description)
            if let id = error.requestID { report.attributes["request_id"] = id }
        }
        if Task.isCancelled, !report.outcome.succeeded { report.outcome = .cancelled }
        report.durationMS = (ContinuousClock.now - start).wholeMilliseconds
        return report
    }

    // MARK: Services

    /// Why a service step of a fenced host's recovery must not reach Nova any more: the host
    /// rejoined after its fence (it runs again) after the step's attempt was recorded, and
    /// taking its nova-compute out now would take out a running host. Nil otherwise.
    func runsAgain(_ host: String) -> String? {
        guard shared.state?.runsAgainAfterItsFence(host) == true else { return nil }
        return "\(host) is running again (it rejoined the cluster after its fence)"
    }

    func forceDown(_ host: String, _ nova: NovaClient) async throws(OpenStackError) -> ActionReport {
        if let why = runsAgain(host) { return ActionReport(.cancelled, message: "not forced down: \(why)") }
        let s = try await nova.computeService(host: host)
        var request: String? = nil
        if s.forced_down != true { request = try await nova.setForcedDown(s.id, true).1 }
        // Right before the evacuations are planned: the host's servers as Nova has them now.
        // Posted before this result, so every member has them when it plans.
        if let state = shared.state {
            let changes = try await NovaInventory(nova: nova).changes(for: state, host: host)
            if !changes.isEmpty { await shared.post(.inventory(changes)) }
        }
        return ActionReport(
            .ok, message: s.forced_down == true ? "\(host) was already forced down" : "nova-compute on \(host) forced down",
            attributes: attributes(service: s.id, request: request))
    }

    func disable(_ host: String, _ nova: NovaClient) async throws(OpenStackError) -> ActionReport {
        if let why = runsAgain(host) { return ActionReport(.cancelled, message: "not disabled: \(why)") }
        let s = try await nova.computeService(host: host)
        let reason = "lifeboat: \(host) failed and was fenced; recovering its instances"
        var request: String? = nil
        if s.status != "disabled" { request = try await nova.setEnabled(s.id, false, reason: reason).1 }
        return ActionReport(.ok, message: "nova-compute on \(host) disabled", attributes: attributes(service: s.id, request: request))
    }

    /// Nova's refusal to un-force a host down while finished (`done`) evacuation records
    /// remain associated with it (nova-api: "… as `done` evacuation migration records remain
    /// associated with the host").
    static func refusedForDoneEvacuations(_ e: OpenStackError) -> Bool {
        e.status == 400 && e.message.contains("evacuation migration records remain")
    }

    func enable(_ host: String, _ nova: NovaClient) async throws(OpenStackError) -> ActionReport {
        let s = try await nova.computeService(host: host)
        let deadline = ContinuousClock.now + .milliseconds(Int(enableRetry * 1000))
        var request: String? = nil
        if s.forced_down == true {
            // Refused while finished evacuations remain recorded on the host: its returning
            // nova-compute marks them completed as it starts, so it is tried again. Once that
            // nova-compute is seen running (its heartbeat moved: past its start-up) and Nova
            // still refuses, only a restart clears them; with a nova-compute resource
            // configured the leader restarts it through its agent, so the wait ends there.
            let restartable = shared.state?.novaComputeResource(on: host) != nil
            var firstBeat: String? = nil
            var running = false
            while true {
                do {
                    request = try await nova.setForcedDown(s.id, false).1
                    break
                } catch where error.status == 400 {
                    let records = Self.refusedForDoneEvacuations(error)
                    if records, restartable, let beat = try await nova.computeService(host: host).updated_at {
                        if let first = firstBeat { running = beat != first } else { firstBeat = beat }
                    }
                    if running || ContinuousClock.now >= deadline {
                        guard records else { throw error }
                        var attrs = attributes(service: s.id, request: nil)
                        attrs["refused_for"] = ClusterState.doneEvacuationRecords
                        attrs["nova_said"] = error.message
                        let why = running
                            ? "its nova-compute runs (its heartbeat moved) and only a restart clears them"
                            : "still so after \(Int(enableRetry)) s, until nova-compute restarts there"
                        return ActionReport(
                            .failed, message: "Nova refuses to take \(host) back: finished evacuation records remain on it; \(why)",
                            attributes: attrs)
                    }
                    do { try await Task.sleep(for: .seconds(2)) } catch {
                        return ActionReport(.cancelled, message: "not enabled: cancelled while Nova refused to un-force \(host) down")
                    }
                }
            }
        }
        if s.status != "enabled" { request = try await nova.setEnabled(s.id, true).1 ?? request }
        return ActionReport(.ok, message: "nova-compute on \(host) enabled and not forced down", attributes: attributes(service: s.id, request: request))
    }

    func attributes(service: String, request: String?) -> [String: String] {
        var a = ["service_id": service]
        if let request { a["request_id"] = request }
        return a
    }

    // MARK: Servers

    /// An evacuation's migration record in these states will not rebuild the server any more
    /// (`done`: rebuilt on its target; `completed`: its source cleaned up after it).
    static let endedMigrationStatuses: Set<String> = ["done", "completed", "failed", "error", "cancelled"]

    static func settled(_ s: NovaClient.Server) -> Bool { (s.status == "ACTIVE" || s.status == "SHUTOFF") && s.taskState == nil }

    /// What Nova shows of the server now, read in the order `EvacuationStart` needs (its
    /// unended evacuation record, then the server); a task with no record yet is read again
    /// a few times (Nova creates the record a moment after it sets the task).
    func start(_ id: String, from: String, to: String, _ nova: NovaClient) async throws(OpenStackError) -> EvacuationStart {
        var decision = EvacuationStart.send
        for round in 0..<4 {
            if round > 0 { try? await Task.sleep(for: .milliseconds(Int(pollInterval * 1000))) }
            let unended = try await nova.evacuations(of: id).last { !Self.endedMigrationStatuses.contains($0.status) }
            decision = EvacuationStart.decide(unended: unended, server: try await nova.server(id), id: id, from: from, to: to)
            guard case .readAgain = decision else { return decision }
        }
        return decision
    }

    func evacuate(_ id: String, from: String, to: String, context: ExecutionContext, _ nova: NovaClient) async throws(OpenStackError) -> ActionReport {
        await slots.acquire()
        defer { Task { await slots.release() } }
        var attrs = ["target": to]
        // A leader change dropped an earlier attempt of this evacuation unfinished: that
        // leader's request may still be on its way (Nova would take a second), so Nova's
        // records are read only once it has had time to land.
        if let since = shared.state?.instances[id]?.evacuationInterruptedAt {
            let left = since + reissueSettle - context.startedAt
            if left > 0 {
                attrs["waited_for_the_dropped_request_s"] = String(format: "%.1f", left)
                do { try await Task.sleep(for: .milliseconds(Int(left * 1000))) } catch {
                    return ActionReport(.cancelled, message: "not evacuated: cancelled while the dropped attempt's request landed", attributes: attrs)
                }
            }
        }
        var decision = try await start(id, from: from, to: to, nova)
        if case .send = decision {
            if let why = context.whyNotLeading() { return ActionReport(.cancelled, message: "not evacuated: \(why)", attributes: attrs) }
            // The source may have rejoined since this attempt began (an operator powered it
            // on): the state then stops further evacuations, and this one, not yet sent, must
            // not go either (`lab chaos --nova`, seed 5).
            if let state = shared.state, state.hostIsBack(from) {
                return ActionReport(.failed, message: "not evacuated: \(from) is running again (it rejoined the cluster)", attributes: attrs)
            }
            do throws(OpenStackError) {
                let sent = await toItsEnd { () async -> Result<String?, OpenStackError> in
                    do throws(OpenStackError) { return .success(try await nova.evacuate(id, to: to)) } catch { return .failure(error) }
                }
                let r: String?
                switch sent {
                case .success(let v): r = v
                case .failure(let e): throw e
                }
                if let r { attrs["request_id"] = r }
            } catch where error.status == nil || (500...599).contains(error.status!) {
                // No answer, or a 5xx: Nova may have taken the request all the same (the
                // answer was lost on the way back). It is sent once, never again (it could
                // run twice); Nova's view of the server decides whether it is under way.
                let now = try await nova.server(id)
                guard now.host == to || (now.taskState?.hasPrefix("rebuild") ?? false) else { throw error }
                attrs["answer_lost"] = error.message
            } catch where error.status == 400 || error.status == 409 {
                // Refused because another request moved it first (400: "the target host can't
                // be the same one"; 409: it has a task): that one is followed when it goes to
                // this target. Anything else is this attempt's failure.
                decision = try await start(id, from: from, to: to, nova)
                switch decision {
                case .alreadyThere, .follow: attrs["refused_as_under_way"] = error.message
                default: throw error
                }
            }
        }
        switch decision {
        case .alreadyThere(let status):
            // Idempotent: a new leader re-issuing an evacuation that already happened.
            return ActionReport(.ok, message: "\(id) already runs on \(to) (\(status))", attributes: attrs)
        case .refuse(let why):
            return ActionReport(.failed, message: why, attributes: attrs)
        case .readAgain(let task):
            return ActionReport(.failed, message: "not evacuated: Nova has \(id) on \(from) with task \(task) and no evacuation of it under way", attributes: attrs)
        case .follow(let because):
            attrs["earlier_evacuation"] = because
        case .send:
            break
        }
        // Tracked with the other evacuations from the same host: one read of that host's
        // migration records per interval, however many servers are on their way, and a read
        // of each server whose record ended (Nova's API stays free for the evacuations).
        let seen = await tracker.wait(for: id, from: from, on: to, nova: nova, timeout: evacuationTimeout, interval: pollInterval)
        guard let s = seen else {
            if Task.isCancelled { return ActionReport(.cancelled, message: "stopped tracking \(id)", attributes: attrs) }
            let now = try? await nova.server(id)
            return ActionReport(
                .timeout,
                message: "\(id) not settled on \(to) within \(evacuationTimeout) s (host \(now?.host ?? "-"), \(now?.status ?? "?"), task \(now?.taskState ?? "-"))",
                attributes: attrs)
        }
        if s.status == "ERROR" {
            let full = try? await nova.server(id)
            let fault = full?.fault ?? s.fault ?? "no fault given"
            if s.host != to {
                // Nova refused the move after accepting the request (its scheduler found
                // no valid host, say): the server is left in ERROR where it was.
                return ActionReport(.failed, message: "evacuation of \(id) to \(to) failed; it is in ERROR on \(s.host ?? "no host"): \(fault)", attributes: attrs)
            }
            return ActionReport(.failed, message: "\(id) went to ERROR: \(fault)", attributes: attrs)
        }
        let m = try? await nova.evacuations(of: id).last
        if let m { attrs["migration_status"] = m.status }
        if s.host != to {
            // Nova ended the evacuation's record without the move (the target's claim
            // failed, say) and left the server as it was.
            return ActionReport(
                .failed,
                message: "evacuation of \(id) to \(to) ended without the move (migration \(m?.status ?? "?")); it is \(s.status) on \(s.host ?? "no host")",
                attributes: attrs)
        }
        if let m { attrs["migration_id"] = String(m.id) }
        attrs["status"] = s.status
        return ActionReport(.ok, message: "\(id) \(s.status) on \(to)", attributes: attrs)
    }

    /// Moves a server off a host drained for maintenance: a running one by live migration,
    /// a stopped one by cold migration (confirmed, it stays stopped on the target); followed
    /// until it is on the target, or Nova gives up (back on its source with a failed
    /// migration record, or ERROR). A server in another state cannot move: the report says
    /// why (`unmovable`), and it is not tried elsewhere. Idempotent: a re-issue finds the
    /// server where it is.
    func migrate(_ id: String, from: String, to: String, context: ExecutionContext, _ nova: NovaClient) async throws(OpenStackError) -> ActionReport {
        var attrs = ["target": to]
        var s = try await nova.server(id)
        if s.host == to, Self.settled(s) { return ActionReport(.ok, message: "\(id) already on \(to) (\(s.status))", attributes: attrs) }
        guard s.host == from || s.host == to else {
            return ActionReport(.failed, message: "\(id) is on \(s.host ?? "no host"), not on \(from): not migrated", attributes: attrs)
        }
        if s.status == "SHUTOFF" || s.status == "VERIFY_RESIZE" {
            return try await coldMigrate(id, from: from, to: to, server: s, context: context, attrs, nova)
        }
        let known = Set((try? await nova.migrations(of: id, type: "live-migration"))?.map(\.id) ?? [])
        if s.host == from, s.taskState == nil {
            guard s.status == "ACTIVE" else {
                attrs["unmovable"] = "\(id) is \(s.status) in Nova: only a running or stopped server can be moved"
                return ActionReport(.failed, message: attrs["unmovable"], attributes: attrs)
            }
            if let why = context.whyNotLeading() { return ActionReport(.cancelled, message: "not migrated: \(why)", attributes: attrs) }
            if let r = try await nova.liveMigrate(id, to: to) { attrs["request_id"] = r }
        }
        let deadline = ContinuousClock.now + .milliseconds(Int(migrationTimeout * 1000))
        while ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(Int(pollInterval * 1000)))
            if Task.isCancelled { return ActionReport(.cancelled, message: "stopped following \(id)", attributes: attrs) }
            s = try await nova.server(id)
            if s.status == "ERROR" { return ActionReport(.failed, message: "\(id) went to ERROR: \(s.fault ?? "no fault given")", attributes: attrs) }
            let record = (try? await nova.migrations(of: id, type: "live-migration"))?.last { !known.contains($0.id) }
            if let m = record {
                attrs["migration_id"] = String(m.id)
                attrs["migration_status"] = m.status
            }
            if s.host == to, Self.settled(s) {
                attrs["status"] = s.status
                return ActionReport(.ok, message: "\(id) \(s.status) on \(to)", attributes: attrs)
            }
            if s.host == from, s.taskState == nil, let m = record, ["error", "failed", "cancelled"].contains(m.status) {
                return ActionReport(.failed, message: "live migration of \(id) to \(to) \(m.status): it runs on \(from)", attributes: attrs)
            }
        }
        return ActionReport(
            .timeout, message: "\(id) not on \(to) within \(migrationTimeout) s (host \(s.host ?? "-"), \(s.status), task \(s.taskState ?? "-"))",
            attributes: attrs)
    }

    func coldMigrate(
        _ id: String, from: String, to: String, server: NovaClient.Server, context: ExecutionContext, _ attrs0: [String: String],
        _ nova: NovaClient
    ) async throws(OpenStackError) -> ActionReport {
        var attrs = attrs0
        attrs["method"] = "cold migration"
        var s = server
        if s.status == "SHUTOFF", s.host == from, s.taskState == nil {
            if let why = context.whyNotLeading() { return ActionReport(.cancelled, message: "not migrated: \(why)", attributes: attrs) }
            if let r = try await nova.coldMigrate(id, to: to) { attrs["request_id"] = r }
        }
        let deadline = ContinuousClock.now + .milliseconds(Int(migrationTimeout * 1000))
        var confirmed = false
        while ContinuousClock.now < deadline {
            if s.status == "VERIFY_RESIZE", !confirmed {
                if s.host != to { return ActionReport(.failed, message: "\(id) was migrated to \(s.host ?? "?"), not \(to)", attributes: attrs) }
                // Confirmed once: Nova shows VERIFY_RESIZE a moment longer while it confirms.
                attrs["confirm_request_id"] = try await nova.confirmResize(id)
                confirmed = true
            }
            try? await Task.sleep(for: .milliseconds(Int(pollInterval * 1000)))
            if Task.isCancelled { return ActionReport(.cancelled, message: "stopped following \(id)", attributes: attrs) }
            s = try await nova.server(id)
            if s.status == "ERROR" { return ActionReport(.failed, message: "\(id) went to ERROR: \(s.fault ?? "no fault given")", attributes: attrs) }
            if s.host == to, Self.settled(s) {
                attrs["status"] = s.status
                return ActionReport(.ok, message: "\(id) \(s.status) on \(to)", attributes: attrs)
            }
            if s.host == from, Self.settled(s), let m = (try? await nova.migrations(of: id, type: "migration"))?.last, ["error", "failed"].contains(m.status) {
                return ActionReport(.failed, message: "cold migration of \(id) to \(to) \(m.status): it stays on \(from)", attributes: attrs)
            }
        }
        return ActionReport(.timeout, message: "\(id) not on \(to) within \(migrationTimeout) s (\(s.status))", attributes: attrs)
    }

    func restart(_ id: String, on host: String, context: ExecutionContext, _ nova: NovaClient) async throws(OpenStackError) -> ActionReport {
        var s = try await nova.server(id)
        var attrs: [String: String] = [:]
        if let why = context.whyNotLeading() { return ActionReport(.cancelled, message: "not restarted: \(why)") }
        // Restarted where the cluster has it, or not at all (someone may have moved it).
        if let at = s.host, at != host {
            return ActionReport(.failed, message: "not restarted: Nova has \(id) on \(at), not on \(host)", attributes: ["nova_host": at])
        }
        let stranded = shared.state?.instances[id]?.givenUpOn ?? false
        if stranded || s.status == "ERROR" { return try await hardReboot(id, on: host, s, nova) }
        if s.status != "SHUTOFF" {
            do { attrs["stop_request_id"] = try await nova.stop(id) } catch where error.status == 409 {}
            s = try await waitFor(id, "SHUTOFF", 60, nova)
        }
        attrs["start_request_id"] = try await nova.start(id)
        s = try await waitFor(id, "ACTIVE", 120, nova)
        return ActionReport(s.status == "ACTIVE" ? .ok : .timeout, message: "\(id) restarted: \(s.status)", attributes: attrs.compactMapValues { $0 })
    }

    /// An instance that died with its host (left there when its evacuation was given up) or
    /// that Nova has in ERROR: a hard reboot in place, as an operator would do. Nova's
    /// status may stay ERROR while the reboot runs, so the task is what is waited for.
    func hardReboot(_ id: String, on host: String, _ before: NovaClient.Server, _ nova: NovaClient) async throws(OpenStackError)
        -> ActionReport
    {
        var attrs = ["nova_status_before": before.status]
        var s = before
        // Being moved (an evacuation a former leader asked for, still running): not ours to
        // touch; where it ends is Nova's record (chaos seed 10 rebooted it on its new host).
        if let task = s.taskState, task.hasPrefix("rebuild") || task.hasPrefix("migrat") || task.hasPrefix("resize") {
            return ActionReport(.failed, message: "not restarted: Nova is moving \(id) (task \(task))", attributes: attrs)
        }
        // Something else under way (an operator's command): let it end first, then look again.
        if s.taskState != nil { s = try await waitForNoTask(id, 60, nova) }
        if s.taskState != nil {
            return ActionReport(.timeout, message: "not restarted: Nova's task \(s.taskState!) on \(id) did not end within 60 s", attributes: attrs)
        }
        if let at = s.host, at != host {
            return ActionReport(.failed, message: "not restarted: Nova has \(id) on \(at) now, not on \(host)", attributes: attrs)
        }
        if let r = try await nova.hardReboot(id) { attrs["reboot_request_id"] = r }
        s = try await waitForNoTask(id, 120, nova)
        if s.status == "ACTIVE", s.taskState == nil {
            return ActionReport(.ok, message: "\(id) restarted in place on \(host) by a hard reboot (it was \(before.status))", attributes: attrs)
        }
        if s.taskState != nil {
            return ActionReport(.timeout, message: "hard reboot of \(id) still \(s.taskState!) after 120 s", attributes: attrs)
        }
        return ActionReport(.failed, message: "hard reboot of \(id) ended \(s.status): \(s.fault ?? "no fault given")", attributes: attrs)
    }

    /// The server once it has no task left, or as it is after `seconds`.
    func waitForNoTask(_ id: String, _ seconds: Double, _ nova: NovaClient) async throws(OpenStackError) -> NovaClient.Server {
        try await poll(id, seconds, nova) { $0.taskState == nil }
    }

    /// The server once it is `status` with no task, or in ERROR, or as it is after `seconds`.
    func waitFor(_ id: String, _ status: String, _ seconds: Double, _ nova: NovaClient) async throws(OpenStackError) -> NovaClient.Server {
        try await poll(id, seconds, nova) { ($0.status == status && $0.taskState == nil) || $0.status == "ERROR" }
    }

    /// Reads the server every `pollInterval` until `done` holds or `seconds` have passed.
    func poll(_ id: String, _ seconds: Double, _ nova: NovaClient, until done: (NovaClient.Server) -> Bool)
        async throws(OpenStackError) -> NovaClient.Server
    {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        var s = try await nova.server(id)
        while !done(s), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(Int(pollInterval * 1000)))
            s = try await nova.server(id)
        }
        return s
    }
}

/// At most N evacuations at once (the rest wait their turn).
actor Slots {
    let limit: Int
    var used = 0
    var waiting: [CheckedContinuation<Void, Never>] = []

    init(_ limit: Int) { self.limit = limit }

    func acquire() async {
        if used < limit {
            used += 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty { used -= 1 } else { waiting.removeFirst().resume() }
    }
}
