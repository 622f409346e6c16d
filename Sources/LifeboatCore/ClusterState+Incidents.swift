/// Incidents: `apply` opens, links and resolves them by comparing the state before and
/// after each event, so that the bookkeeping of failures (ClusterState+Failures) stays as
/// it is and every member numbers and links incidents the same way.
///
/// Order within one event: first what the event opened (a new failure supersedes the
/// previous incident of the same thing), then which incident the event itself belongs to,
/// then what it resolved or closed.
extension ClusterState {
    mutating func trackIncidents(from before: PriorState, _ event: Event) -> Applied {
        var applied = Applied()
        var changed = IncidentChanges()
        let touched = touchedHosts(event, before: before)
        for h in touched { openIncidents(host: h, before: before, event, &changed) }
        if case .instanceFailed(let i) = event { openVMIncident(i, before: before, cause: "monitor", &changed) }
        if case .notificationReceived = event { openNotificationIncident(before: before, &changed) }
        applied.incident = incidentScope(of: event, before: before).flatMap { openIncidents[$0]?.id }
        if case .actionFinished(let key, _, _) = event, let id = before.inFlight[key]?.incident { applied.incident = id }
        if case .consoleCaptured(let attempt, _) = event {
            _ = attempt
            applied.incident = before.consoleIncident
        }
        if case .actionFinished(let key, _, let report) = event, let r = before.inFlight[key],
            case .restartProcess(let h, let p) = r.action, let inc = openIncidents["restart:\(h):\(p)"]
        {
            resolve(inc.scope, report.outcome.succeeded ? .recovered : .failed, report.outcome.succeeded ? "restarted" : "the restart failed: \(report.message ?? report.outcome.rawValue)", close: true, &changed)
        }
        if case .actionStarted(let a, _) = event, inFlight[a.key] != nil { inFlight[a.key]!.incident = applied.incident }
        // A resolved incident that waited for its notice to be told closes once it is.
        if case .actionStarted(.notify(let n), _) = event {
            for scope in actionScope(.notify(n)) ?? [] where !scope.hasPrefix("host:") && openIncidents[scope]?.isResolved == true {
                close(scope, &changed)
            }
        }
        resolveIncidents(touched: event.isStructural ? nil : touched, event, &changed)
        applied.incidents = changed.ids.compactMap { id in changed.closed[id] ?? openIncidents.values.first { $0.id == id } }
        return applied
    }

    /// Hosts whose incidents this event may open, link or resolve (named by the event,
    /// see `PriorState.touched`), that are in a segment before and after it.
    func touchedHosts(_ event: Event, before: PriorState) -> [String] {
        before.touched.filter { hosts[$0] != nil && before.hosts[$0] != nil }
    }

    // MARK: Opening

    mutating func openIncidents(host h: String, before: PriorState, _ event: Event, _ changed: inout IncidentChanges) {
        let was = before.hosts[h]!
        let now = hosts[h]!
        // A new failure of the host: a recovery started.
        if now.failureCount > was.failureCount, let r = now.recovery {
            let kind: Incident.Kind
            let summary: String
            switch r.cause {
            case .nodeLost: (kind, summary) = (.hostLost, "\(h) left the cluster without a clean leave")
            case .unseenAtStartup: (kind, summary) = (.hostLost, "\(h) was not seen within \(policy.startupGrace) s of the cluster starting")
            case .processFailure: (kind, summary) = (.hostLost, "a process on \(h) failed past its restart limit")
            case .operatorRequest: (kind, summary) = (.operatorAction, "an operator asked for \(h) to be fenced")
            case .notification: (kind, summary) = (.notification, "a notification reported \(h) stopped")
            }
            if case .fenceConfirmedByOperator = event, r.cause == .nodeLost {
                open(kind: .operatorAction, scope: "host:\(h)", cause: "operator_confirmation", host: h,
                     summary: "an operator confirmed \(h) is powered off", &changed)
            } else {
                open(kind: kind, scope: "host:\(h)", cause: r.cause.rawValue, host: h, summary: summary, &changed)
            }
            let id = nextIncident - 1
            openIncidents["host:\(h)"]!.instances = (instancesByHost[h] ?? []).sorted().filter { protects(instances[$0]!) }
            // Its processes' failures are handed on to the host's recovery (a failed VM's
            // incident stays open: it ends with the VM's own state).
            for scope in openIncidents.keys.sorted() where openIncidents[scope]!.host == h {
                let inc = openIncidents[scope]!
                guard ["process:", "restart:"].contains(where: { scope.hasPrefix($0) }) else { continue }
                if r.cause == .processFailure && inc.scope.hasPrefix("process:") { openIncidents["host:\(h)"]!.related = inc.id }
                openIncidents[scope]!.related = id
                resolve(scope, .escalated, "handed on to the recovery of \(h) (incident \(id))", close: true, &changed)
            }
        }
        // Processes that failed now, and operators' restarts.
        let names = Set(was.processes.keys).union(now.processes.keys).sorted()
        for p in names {
            let wasFailed = was.processes[p]?.failed ?? false
            let isFailed = now.processes[p]?.failed ?? false
            guard !wasFailed, isFailed, openIncidents["process:\(h):\(p)"] == nil else { continue }
            switch event {
            case .resourceRestart:
                if openIncidents["restart:\(h):\(p)"] == nil {
                    open(kind: .operatorAction, scope: "restart:\(h):\(p)", cause: "resource_restart", host: h, process: p,
                         summary: "an operator asked for \(p) on \(h) to be restarted", &changed)
                }
            case .notificationReceived:
                open(kind: .notification, scope: "process:\(h):\(p)", cause: "notification", host: h, process: p,
                     summary: "a notification reported \(p) stopped on \(h)", &changed)
            default:
                open(kind: .processFailed, scope: "process:\(h):\(p)", cause: "monitor", host: h, process: p,
                     summary: "\(p) failed on \(h)", &changed)
            }
        }
        // Maintenance windows.
        if !was.maintenance, now.maintenance {
            open(kind: .operatorAction, scope: "maintenance:\(h)", cause: "maintenance", host: h,
                 summary: "\(h) taken into maintenance", &changed)
        }
        // The storm guard halted the host's segment.
        let s = now.segment
        if let seg = segments[s], seg.stormHalted, before.segments[s]?.stormHalted == false {
            open(kind: .stormGuard, scope: "segment:\(s)", cause: "storm", segment: s,
                 summary: "\(seg.recentLosses.count) of \(hostsBySegment[s]?.count ?? 0) hosts of \(s) lost within \(policy.stormWindow) s: automatic recovery halted in the segment", &changed)
        }
    }

    mutating func openVMIncident(_ i: String, before: PriorState, cause: String, _ changed: inout IncidentChanges) {
        guard let was = before.instances[i], let now = instances[i], was.state == .active,
            now.state == .failed || now.state == .error, openIncidents["instance:\(i)"] == nil
        else { return }
        let kind: Incident.Kind = cause == "notification" ? .notification : .vmFailed
        open(kind: kind, scope: "instance:\(i)", cause: cause, host: now.host, instance: i,
             summary: "instance \(i) failed on \(now.host)", &changed)
        openIncidents["instance:\(i)"]!.instances = [i]
    }

    /// A notification that set nothing off is an incident of its own, resolved at once;
    /// a VM notification that failed an instance opens that instance's incident.
    mutating func openNotificationIncident(before: PriorState, _ changed: inout IncidentChanges) {
        guard let n = notifications.last, before.lastNotificationSerial != n.identity.serial else { return }
        if n.type == .vm, let i = instanceID(n.payloadValue("instance_uuid") ?? "") {
            openVMIncident(i, before: before, cause: "notification", &changed)
        }
        guard n.status == .ignored else { return }
        let scope = "notification:\(n.identity.serial)"
        open(kind: .notification, scope: scope, cause: "notification", host: n.hostname,
             summary: "notification \(n.type.rawValue) about \(n.hostname)", &changed)
        resolve(scope, .ignored, n.message ?? "nothing to recover", close: true, &changed)
    }

    mutating func open(
        kind: Incident.Kind, scope: String, cause: String, host: String? = nil, process: String? = nil, instance: String? = nil,
        segment: String? = nil, summary: String, _ changed: inout IncidentChanges
    ) {
        if openIncidents[scope] != nil {
            // Closed now even with a notice of it still to tell: the new incident takes its
            // scope (and that notice).
            resolve(scope, .superseded, "superseded by a new failure", close: false, &changed)
            close(scope, evenWithNoticesPending: true, &changed)
        }
        var inc = Incident(id: nextIncident, kind: kind, scope: scope, cause: cause, openedAt: now, summary: summary)
        nextIncident += 1
        inc.host = host
        inc.segment = segment ?? host.flatMap { hosts[$0]?.segment }
        inc.instance = instance
        inc.process = process
        openIncidents[scope] = inc
        changed.note(inc.id)
    }

    /// Instances a host failure takes down that Lifeboat brings back.
    func protects(_ i: Instance) -> Bool { i.ha || policy.evacuateAll }

    // MARK: Linking

    /// The scope of the incident an event belongs to (nil: none).
    func incidentScope(of event: Event, before: PriorState) -> String? {
        func first(_ scopes: [String]) -> String? { scopes.first { openIncidents[$0] != nil } }
        switch event {
        case .nodeLost(let h), .nodeJoined(let h), .nodeUnseen(let h), .fenceConfirmedByOperator(let h), .fenceRequested(let h):
            return first(["host:\(h)"])
        case .processFailed(let h, let p), .processRecovered(let h, let p), .resourceBlocked(let h, let p, _),
            .resourceCleanup(let h, let p), .resourceRestart(let h, let p):
            return first(["process:\(h):\(p)", "restart:\(h):\(p)", "host:\(h)"])
        case .instanceFailed(let i):
            return first(["instance:\(i)"] + (instances[i].map { ["host:\($0.host)"] } ?? []))
        case .maintenance(let h, _), .drain(let h, _):
            return first(["maintenance:\(h)"]) ?? before.openIncidents["maintenance:\(h)"]?.scope
        case .stormReset(let s), .segmentEnabled(let s, _):
            return first(["segment:\(s)"]) ?? before.openIncidents["segment:\(s)"]?.scope
        case .notificationReceived(let n):
            let p = n.payloadValue("process_name") ?? ""
            let i = instanceID(n.payloadValue("instance_uuid") ?? "") ?? ""
            return first([
                "notification:\(notifications.last?.identity.serial ?? 0)", "instance:\(i)", "process:\(n.hostname):\(p)",
                "host:\(n.hostname)",
            ])
        case .actionStarted(let a, _):
            return actionScope(a).flatMap { first($0) }
        default:
            return nil
        }
    }

    /// Where an action's steps belong, in order of preference.
    func actionScope(_ a: Action) -> [String]? {
        switch a {
        case .fence(let h), .forceDown(let h), .disableService(let h), .enableService(let h): ["host:\(h)"]
        case .evacuate(_, let from, _): ["host:\(from)"]
        case .migrate(_, let from, _): ["maintenance:\(from)"]
        case .restartProcess(let h, let p): ["process:\(h):\(p)", "restart:\(h):\(p)", "host:\(h)"]
        case .restartInstance(let i, let h): ["instance:\(i)", "host:\(h)"]
        case .notify(let n):
            if n.kind == .stormHalted, let s = n.segment { ["segment:\(s)"] }
            else if let i = n.instance { ["instance:\(i)"] + (n.host.map { ["host:\($0)"] } ?? []) }
            else if let h = n.host { ["host:\(h)", "maintenance:\(h)"] + (hosts[h]?.processes.keys.sorted().map { "process:\(h):\($0)" } ?? []) }
            else if let s = n.segment { ["segment:\(s)"] }
            else { nil }
        }
    }

    // MARK: Resolving

    /// Resolves what the event finished. `touched` nil: look at every open incident (the
    /// event may change many hosts at once).
    mutating func resolveIncidents(touched: [String]?, _ event: Event, _ changed: inout IncidentChanges) {
        let scopes = openIncidents.keys.sorted().filter { scope in
            guard let touched else { return true }
            let inc = openIncidents[scope]!
            if let h = inc.host, touched.contains(h) { return true }
            if let s = inc.segment, inc.kind == .stormGuard { return touched.contains { hosts[$0]?.segment == s } || event.names(segment: s) }
            if let i = inc.instance, let now = instances[i], touched.contains(now.host) { return true }
            return false
        }
        for scope in scopes {
            guard let inc = openIncidents[scope] else { continue }
            if scope.hasPrefix("host:") { resolveHost(inc, &changed) }
            else if scope.hasPrefix("process:") { resolveProcess(inc, &changed) }
            else if scope.hasPrefix("instance:") { resolveInstance(inc, &changed) }
            else if scope.hasPrefix("maintenance:") {
                if hosts[inc.host!]?.maintenance != true { resolve(scope, .recovered, "\(inc.host!) out of maintenance", close: true, &changed) }
            } else if scope.hasPrefix("segment:") {
                if segments[inc.segment!]?.stormHalted != true { resolve(scope, .recovered, "the storm guard was reset", close: true, &changed) }
            } else if scope.hasPrefix("restart:") {
                if hosts[inc.host!] == nil { resolve(scope, .superseded, "\(inc.host!) left the configuration", close: true, &changed) }
            }
        }
    }

    mutating func resolveHost(_ inc: Incident, _ changed: inout IncidentChanges) {
        let h = inc.host!
        guard let host = hosts[h] else {
            resolve(inc.scope, .superseded, "\(h) left the configuration", close: true, &changed)
            return
        }
        guard let r = host.recovery else {
            // Back before it was fenced, or re-admitted: nothing more to link, unless an
            // earlier recovery left its service disabled (it was fenced, came back, and was
            // lost again before its re-admission): the re-admission still belongs here.
            let readmission = host.member && host.service != .up
            if inc.isResolved {
                // Instances given up on are restarted in place once it is re-admitted: those
                // restarts are this incident's last steps.
                if !readmission, !strandedRestartsPending(h) { close(inc.scope, &changed) }
            } else {
                let how = readmission
                    ? "\(h) came back before it was fenced: nothing to recover; its service, disabled by an earlier recovery, is enabled when it is re-admitted"
                    : "\(h) came back before it was fenced: nothing to recover"
                resolve(inc.scope, .cancelled, how, close: !readmission && !strandedRestartsPending(h), &changed)
            }
            return
        }
        guard r.finished, !inc.isResolved else { return }
        let left = inc.instances.filter { id in instances[id].map { $0.host == h || $0.state == .error } ?? false }
        let moved = inc.instances.count - left.count
        let gone = inc.instances.filter { instances[$0] == nil }
        let leftNow = left.filter { !gone.contains($0) }
        if leftNow.isEmpty {
            resolve(inc.scope, .recovered, inc.instances.isEmpty ? "\(h) fenced; no HA instance to move" : "\(h) fenced; \(moved) HA instance\(moved == 1 ? "" : "s") running elsewhere", close: false, &changed)
        } else {
            resolve(inc.scope, moved > 0 ? .partial : .failed, "\(h) fenced; \(moved) of \(inc.instances.count) HA instances running elsewhere, not moved: \(leftNow.joined(separator: ", "))", close: false, &changed)
        }
    }

    /// HA instances on the host that were given up on and wait for their restart in place
    /// (`Scheduler.planStrandedRestarts`), or whose restart is in flight.
    func strandedRestartsPending(_ h: String) -> Bool {
        (instancesByHost[h] ?? []).contains { id in
            let i = instances[id]!
            return (i.ha && i.givenUpOn) || inFlight["restart_instance:\(id)"] != nil
        }
    }

    mutating func resolveProcess(_ inc: Incident, _ changed: inout IncidentChanges) {
        let h = inc.host!, p = inc.process!
        guard let host = hosts[h] else {
            resolve(inc.scope, .superseded, "\(h) left the configuration", close: true, &changed)
            return
        }
        if let why = host.processes[p]?.blocked { resolve(inc.scope, .failed, "\(p) is blocked: \(why)", close: true, &changed) }
        else if host.processes[p]?.failed != true { resolve(inc.scope, .recovered, "\(p) runs again", close: true, &changed) }
    }

    mutating func resolveInstance(_ inc: Incident, _ changed: inout IncidentChanges) {
        let i = inc.instance!
        guard let inst = instances[i] else {
            resolve(inc.scope, .superseded, "instance \(i) is no longer tracked", close: true, &changed)
            return
        }
        switch inst.state {
        case .active: resolve(inc.scope, .recovered, "instance \(i) runs again", close: true, &changed)
        case .error: resolve(inc.scope, .failed, "instance \(i) left in error: an operator must look at it", close: true, &changed)
        case .stopped, .evacuating:
            resolve(inc.scope, .escalated, "handed on to the recovery of \(inst.host)", close: true, &changed)
        case .failed, .migrating: break
        }
    }

    mutating func resolve(_ scope: String, _ outcome: IncidentOutcome, _ how: String, close: Bool, _ changed: inout IncidentChanges) {
        guard var inc = openIncidents[scope] else { return }
        if inc.outcome == nil {
            inc.outcome = outcome
            inc.resolvedAt = now
            inc.summary += ": " + how
        }
        openIncidents[scope] = inc
        changed.note(inc.id)
        if close { self.close(scope, &changed) }
    }

    /// Closes the incident, unless a notice raised for it is still to be told: then it
    /// stays open (resolved) until the notice is linked to it.
    mutating func close(_ scope: String, evenWithNoticesPending: Bool = false, _ changed: inout IncidentChanges) {
        guard openIncidents[scope] != nil else { return }
        if !evenWithNoticesPending, pendingNotices.contains(where: { actionScope(.notify($0))?.contains(scope) == true }) { return }
        guard var inc = openIncidents.removeValue(forKey: scope) else { return }
        inc.closedAt = now
        changed.closed[inc.id] = inc
        changed.note(inc.id)
    }
}

/// The incidents one event opened, resolved or closed, in that order.
struct IncidentChanges {
    var ids: [Int] = []
    /// Closed by this event: no longer in `openIncidents`.
    var closed: [Int: Incident] = [:]
    mutating func note(_ id: Int) { if !ids.contains(id) { ids.append(id) } }
}

extension Event {
    /// Events that may change many hosts at once: every open incident is looked at.
    var isStructural: Bool {
        switch self {
        case .configure, .segmentSaved, .segmentRemoved, .hostRemoved, .inventory, .leaderChanged, .stormReset, .segmentEnabled: true
        default: false
        }
    }

    func names(segment s: String) -> Bool {
        switch self {
        case .stormReset(let x), .segmentEnabled(let x, _): x == s
        default: false
        }
    }
}

extension ClusterState {
    /// The id of the instance a notification names (Nova's uuids, in any case).
    func instanceID(_ uuid: String) -> String? {
        let id = uuid.lowercased()
        if instances[id] != nil { return id }
        if instances[uuid] != nil { return uuid }
        return instances.keys.first { $0.lowercased() == id }
    }

    /// Open incidents, oldest first.
    public var incidents: [Incident] { openIncidents.values.sorted { $0.id < $1.id } }
}

/// What `trackIncidents` needs of the state before an event, taken before `apply` changes
/// anything: the small tables whole, and of the big ones only the entries the event can
/// concern. Keeping the whole old state instead made every applied event copy each table
/// it changed (a list of a thousand notifications, on every member, for every write).
struct PriorState {
    /// The hosts the event names (for a finished action: its host and target).
    var touched: [String]
    var inFlight: [String: ActionRecord]
    var hosts: [String: Host]
    var segments: [String: Segment]
    var openIncidents: [String: Incident]
    var instances: [String: Instance]
    var lastNotificationSerial: Int?
    /// For `console_captured`: the incident of the attempt it belongs to.
    var consoleIncident: Int?

    init(_ s: ClusterState, _ event: Event) {
        inFlight = s.inFlight
        segments = s.segments
        openIncidents = s.openIncidents
        lastNotificationSerial = s.notifications.last?.identity.serial
        // The hosts the event names, in order (incidents are opened in this order), and
        // what they were.
        var names: [String] = []
        switch event {
        case .nodeLost(let h), .nodeJoined(let h), .nodeUnseen(let h), .processFailed(let h, _), .processRecovered(let h, _),
            .resourceBlocked(let h, _, _), .resourceCleanup(let h, _), .resourceRestart(let h, _), .maintenance(let h, _),
            .fenceConfirmedByOperator(let h), .fenceRequested(let h), .reserved(let h, _), .drain(let h, _):
            names = [h]
        case .instanceFailed(let i): names = s.instances[i].map { [$0.host] } ?? []
        case .notificationReceived(let n): names = [n.hostname]
        case .hostSaved(let reg): names = [reg.name]
        case .actionStarted(let a, _): names = [a.host, a.target].compactMap { $0 }
        case .actionFinished(let key, _, _):
            if let a = s.inFlight[key]?.action { names = [a.host, a.target].compactMap { $0 } }
        case .segmentMaintenance(let seg, _): names = s.hostsBySegment[seg] ?? []
        default: break
        }
        touched = names
        var hs: [String: Host] = [:]
        for h in names { if let host = s.hosts[h] { hs[h] = host } }
        hosts = hs
        var ids: [String] = []
        if case .instanceFailed(let i) = event { ids.append(i) }
        if case .notificationReceived(let n) = event, n.type == .vm, let i = s.instanceID(n.payloadValue("instance_uuid") ?? "") { ids.append(i) }
        var inst: [String: Instance] = [:]
        for i in ids { if let x = s.instances[i] { inst[i] = x } }
        instances = inst
        consoleIncident = nil
        if case .consoleCaptured(let attempt, _) = event {
            consoleIncident = s.finishedActionIndex(attempt).flatMap { s.actionLog[$0].record.incident }
        }
    }
}
