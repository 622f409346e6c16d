/// `apply`: the one place where the cluster state changes. Pure and deterministic: the
/// same events in the same order give the same state on every member. An event that does
/// not fit the state is refused with a reason and changes nothing.
extension ClusterState {
    /// Returns the incident the event belongs to and the incidents it changed.
    @discardableResult
    public mutating func apply(_ event: Event, at time: Double) throws(EventRejected) -> Applied {
        try validate(event)
        // Validated: nothing below throws, so the state changes in place (a copy of the
        // whole state would make every changed table be copied too). What the incident
        // bookkeeping compares with is taken first.
        let before = PriorState(self, event)
        now = max(now, time)
        epoch += 1
        if quorate {
            progress += 1
            lineage = CRC32C.checksum(Array(JSONWriter.write(event.json, timeKeys: []).utf8), continuing: lineage)
        }
        mutate(event)
        updateNotifications()
        let applied = trackIncidents(from: before, event)
        if event.isConfigurationChange { configVersion += 1 }
        applyRetention()
        return applied
    }

    // MARK: Validation (no mutation)

    func validate(_ event: Event) throws(EventRejected) {
        if event.requiresQuorum && !quorate {
            throw EventRejected(
                event.isConfigurationChange || event.kind.hasPrefix("fence_")
                    ? "no quorum: configuration changes and confirmations are refused until quorum returns"
                    : "no quorum: nothing but notices is started until quorum returns")
        }
        switch event {
        case .nodeLost(let h), .nodeJoined(let h), .nodeUnseen(let h), .processFailed(let h, _),
            .processRecovered(let h, _), .maintenance(let h, _), .reserved(let h, _), .resourceBlocked(let h, _, _):
            try requireHost(h)
        case .resourceCleanup(let h, let p):
            try requireHost(h)
            guard hosts[h]!.processes[p] != nil || resource(p, on: h) != nil else {
                throw EventRejected("no resource '\(p)' on \(h), and nothing recorded for it")
            }
        case .resourceRestart(let h, let p):
            try requireHost(h)
            guard resource(p, on: h) != nil || p == "nova-compute" else { throw EventRejected("no resource '\(p)' is configured on \(h)") }
            let host = hosts[h]!
            guard host.member, !host.maintenance, !recovering(h) else {
                throw EventRejected("\(h) is not a healthy member (down, in maintenance or being recovered): nothing is restarted there")
            }
            if inFlight[Action.restartProcess(host: h, process: p).key] != nil { throw EventRejected("\(p) on \(h) is already being restarted") }
        case .fenceConfirmedByOperator(let h):
            try requireHost(h)
            if hosts[h]!.member {
                throw EventRejected("host \(h) is a member of the cluster: it is running, not off")
            }
        case .fenceRequested(let h):
            try requireHost(h)
            let host = hosts[h]!
            if host.maintenance { throw EventRejected("host \(h) is in maintenance: take it out of maintenance to fence it") }
            if recovering(h) { throw EventRejected("host \(h) is already being recovered") }
            if host.fence.isOff { throw EventRejected("host \(h) is already fenced off") }
        case .instanceFailed(let i), .haTag(let i, _):
            try requireInstance(i)
        case .drain(let h, let on):
            try validateDrain(h, on: on)
        case .segmentMaintenance(let s, _):
            guard segments[s] != nil else { throw EventRejected("unknown segment '\(s)'") }
        case .haRuleSaved(let rule):
            guard !rule.name.isEmpty, rule.hasCriteria else { throw EventRejected("an HA rule needs a name and at least one criterion") }
        case .haRuleRemoved(let name):
            guard haRules.contains(where: { $0.name == name }) else { throw EventRejected("no HA rule named '\(name)'") }
        case .segmentEnabled(let s, _), .stormReset(let s):
            guard segments[s] != nil else { throw EventRejected("unknown segment '\(s)'") }
        case .quorum, .leaderChanged, .clock:
            break
        case .configure(let c):
            try validateConfigure(c)
        case .segmentSaved, .segmentRemoved, .hostSaved, .hostRemoved, .notificationReceived:
            try validateMasakari(event)
        case .inventory(let changes):
            try validateInventory(changes)
        case .consoleCaptured(let attempt, _):
            guard finishedActionIndex(attempt) != nil else {
                throw EventRejected("no finished action of attempt \(attempt) is kept: its console capture is not recorded")
            }
        case .actionStarted(let a, let t):
            guard t == term else {
                throw EventRejected("start of \(a.key) in term \(t), but the current term is \(term): a previous leader's", stale: t < term)
            }
            try validateStart(a)
        case .actionFinished(let key, let attempt, let report):
            guard let r = inFlight[key], r.attempt == attempt else {
                let now = inFlight[key].map { "attempt \($0.attempt) is" } ?? "nothing is"
                throw EventRejected(
                    "stale result of \(key) attempt \(attempt) (\(report.outcome.rawValue)): \(now) in flight", stale: attempt.term <= term)
            }
            if !r.action.accepts(report.outcome) {
                throw EventRejected("outcome '\(report.outcome.rawValue)' does not apply to \(r.action.kind)")
            }
        }
    }

    func validateStart(_ action: Action) throws(EventRejected) {
        if inFlight[action.key] != nil { throw EventRejected("\(action.key) is already in flight") }
        if case .notify(let n) = action, noticeKeys.contains(n.key) {
            throw EventRejected("notice \(n.key) was already told")
        }
        if case .notify = action {} else if let h = action.host { try requireHost(h) }
        if let i = action.instance { try requireInstance(i) }
        switch action {
        case .fence(let h):
            guard hosts[h]!.recovery != nil else { throw EventRejected("host \(h) is not being recovered") }
        case .forceDown(let h), .disableService(let h):
            // Planned for a fenced host's recovery only. The leader plans from the state it
            // has; a join replicated before this start ends that recovery (`nodeJoined`),
            // and forcing the service of a host that runs again down would take it out of
            // Nova (`lab chaos --nova` seed 15: a retry planned as host2 rejoined).
            guard let r = hosts[h]!.recovery, hosts[h]!.fence.isOff else { throw EventRejected("host \(h) is not fenced off in a recovery") }
            guard !r.finished, !runsAgainAfterItsFence(h) else {
                throw EventRejected("host \(h) runs again (it rejoined after its fence): its recovery is over, nova-compute is not taken out")
            }
        case .evacuate(let i, let from, let to):
            try requireHost(to)
            guard instances[i]!.host == from else {
                throw EventRejected("instance \(i) is on \(instances[i]!.host), not \(from)")
            }
            guard inFlight["migrate:\(i)"] == nil else { throw EventRejected("instance \(i) is being live-migrated: its result comes first") }
            guard hosts[from]!.fence.isOff else {
                throw EventRejected("host \(from) is not confirmed off: \(i) cannot be evacuated")
            }
            guard !hosts[from]!.member else {
                throw EventRejected("host \(from) is running again: evacuating \(i) could run it twice")
            }
            guard hosts[to]!.segment == hosts[from]!.segment else {
                throw EventRejected("target \(to) is outside segment \(hosts[from]!.segment)")
            }
        case .migrate(let i, let from, let to):
            try validateMigration(i, from: from, to: to)
        default:
            break
        }
    }

    func requireHost(_ h: String) throws(EventRejected) {
        guard hosts[h] != nil else { throw EventRejected("unknown host '\(h)'") }
    }

    func requireInstance(_ i: String) throws(EventRejected) {
        guard instances[i] != nil else { throw EventRejected("unknown instance '\(i)'") }
    }

    // MARK: Mutation (event already validated)

    mutating func mutate(_ event: Event) {
        switch event {
        case .nodeLost(let h): nodeLost(h)
        case .nodeJoined(let h): nodeJoined(h)
        case .nodeUnseen(let h): nodeUnseen(h)
        case .quorum(let q):
            if quorate && !q {
                quorumLosses += 1
                raise(
                    Notice(
                        kind: .quorumLost, key: "\(quorumLosses)",
                        reason: "partition lost quorum: no fencing, evacuation or configuration change until it returns"))
            }
            if q && !quorate { quorateSince = now }
            if !q { quorateSince = nil }
            quorate = q
        case .processFailed(let h, let p): processFailed(h, p)
        case .resourceBlocked(let h, let p, let why): blockProcess(h, p, why)
        case .resourceCleanup(let h, let p):
            hosts[h]!.processes[p] = nil
        case .resourceRestart(let h, let p):
            hosts[h]!.processes[p, default: ProcessHealth()].failed = true
        case .processRecovered(let h, let p):
            hosts[h]!.processes[p]?.failed = false
            if hosts[h]!.processes[p]?.isClean == true { hosts[h]!.processes[p] = nil }
            // An escalation that has not fenced yet is called off: the process is back.
            if let r = hosts[h]!.recovery, r.cause == .processFailure, !r.finished, !hosts[h]!.fence.isOff,
                inFlight["fence:\(h)"] == nil, hosts[h]!.member
            {
                hosts[h]!.recovery = nil
                hosts[h]!.fence = .none
                hosts[h]!.processes[p]?.failures = 0
            }
        case .instanceFailed(let i): instanceFailed(i)
        case .maintenance(let h, let on): setMaintenance(h, on)
        case .drain(let h, let on): drain(h, on: on)
        case .segmentMaintenance(let s, let on): segmentMaintenance(s, on: on)
        case .fenceConfirmedByOperator(let h):
            hosts[h]!.fence = .confirmedByOperator
            if hosts[h]!.recovery == nil || hosts[h]!.recovery!.finished {
                startRecovery(h, cause: .nodeLost)
            }
            fencedOff(h)
        case .fenceRequested(let h): startRecovery(h, cause: .operatorRequest)
        case .segmentEnabled(let s, let on): segments[s]!.enabled = on
        case .reserved(let h, let on): hosts[h]!.reserved = on
        case .haTag(let i, let tag):
            instances[i]!.tag = tag
            refreshProtection([i])
        case .haRuleSaved(let rule):
            if let n = haRules.firstIndex(where: { $0.name == rule.name }) { haRules[n] = rule } else { haRules.append(rule) }
            refreshProtection()
        case .haRuleRemoved(let name):
            haRules.removeAll { $0.name == name }
            refreshProtection()
        case .stormReset(let s):
            segments[s]!.stormHalted = false
            segments[s]!.recentLosses = [:]
        case .configure(let c): configure(c)
        case .segmentSaved, .segmentRemoved, .hostSaved, .hostRemoved, .notificationReceived: applyMasakari(event)
        case .inventory(let changes):
            applyInventory(changes)
            configVersion += 1  // instances and capacities are configuration: saved states compare it
        case .leaderChanged(let holder):
            term += 1
            termHolder = holder
            // Everything the previous term left in flight is planned again in this one
            // (executors are idempotent); the old attempts' late results are stale.
            let dropped = inFlight.values.sorted { $0.attempt < $1.attempt }
            inFlight = [:]
            for r in dropped {
                requeue(r, why: "the leader changed")
                // Its request may be on its way to Nova: the re-issue lets it land first.
                if case .evacuate(let i, _, _) = r.action, instances[i]?.state == .evacuating { instances[i]!.evacuationInterruptedAt = now }
            }
        case .clock:
            break
        case .consoleCaptured(let attempt, let console):
            let n = finishedActionIndex(attempt)!
            var report = actionLog[n].report
            report.console = console
            actionLog[n].report = report.bounded
        case .actionStarted(let a, _): started(a)
        case .actionFinished(let key, _, let report):
            let r = inFlight.removeValue(forKey: key)!
            let bounded = report.bounded
            actionLog.append(CompletedAction(record: r, finishedAt: now, report: bounded))
            if bounded.outcome == .cancelled {
                requeue(r, why: "its attempt was cancelled")
            } else {
                // A move that cannot succeed anywhere (the executor says why) is not retried.
                if case .migrate(let i, let from, _) = r.action, let why = bounded.attributes["unmovable"], hosts[from]?.drain != nil {
                    hosts[from]!.drain!.blocked[i] = why
                }
                finished(r.action, bounded)
            }
        }
    }

    /// An attempt that ended without a result (its leader changed, or it was cancelled):
    /// the step stays pending and is planned again with the same parameters. An evacuation
    /// keeps its target and booking, except when it cannot be planned again: away from a
    /// host that is running again, or whose recovery is over (it came back and left again
    /// meanwhile). Its outcome is unknown, so the booking is released and the operator told.
    mutating func requeue(_ r: ActionRecord, why: String) {
        // A migration keeps its target and booking while its host is still drained: planned
        // again, and its executor finds the instance where it is. Otherwise it is let go:
        // the booking released, the instance running where the inventory will find it.
        if case .migrate(let i, let from, let to) = r.action {
            guard instances[i]?.state == .migrating, hosts[from]?.drain?.finishedAt != nil || hosts[from]?.drain == nil else { return }
            hosts[to]?.used -= instances[i]!.flavor
            instances[i]!.evacuatingTo = nil
            instances[i]!.state = .active
            refreshRecovery(from)
            return
        }
        guard case .evacuate(let i, let from, let to) = r.action else { return }
        let source = hosts[from]!
        // Still down since (a recovery over whose given-up instances are retried included):
        // kept, and planned again.
        guard hostIsBack(from) else { return }
        abandonEvacuation(
            i, from: from, to: to, key: "\(i)@attempt\(r.attempt)",
            reason: source.member
                ? "\(why) while \(i) was being evacuated from \(from) to \(to), and \(from) is running again: check where \(i) runs in Nova"
                : "\(why) while \(i) was being evacuated from \(from) to \(to), after \(from) came back and left again: check where \(i) runs in Nova")
    }
}

extension ClusterState {
    /// Where the finished record of `attempt` is kept in `actionLog`, if it is: what a
    /// console capture is attached to, and what its executor waits for before sending it.
    public func finishedActionIndex(_ attempt: Attempt) -> Int? { actionLog.lastIndex { $0.record.attempt == attempt } }
}
