/// `apply`: the one place where the cluster state changes. Pure and deterministic: the
/// same events in the same order give the same state on every member. An event that does
/// not fit the state is refused with a reason and changes nothing.
extension ClusterState {
    public mutating func apply(_ event: Event, at time: Double) throws(EventRejected) {
        try validate(event)
        var next = self
        next.now = max(now, time)
        next.epoch += 1
        next.mutate(event)
        if event.isConfigurationChange { next.configVersion += 1 }
        self = next
    }

    // MARK: Validation (no mutation)

    func validate(_ event: Event) throws(EventRejected) {
        if event.isConfigurationChange && !quorate {
            throw EventRejected("no quorum: configuration changes are refused until quorum returns")
        }
        switch event {
        case .nodeLost(let h), .nodeJoined(let h), .processFailed(let h, _),
            .processRecovered(let h, _), .maintenance(let h, _), .reserved(let h, _):
            try requireHost(h)
        case .fenceConfirmedByOperator(let h):
            try requireHost(h)
            if hosts[h]!.member {
                throw EventRejected("host \(h) is a member of the cluster: it is running, not off")
            }
        case .instanceFailed(let i), .haTag(let i, _):
            try requireInstance(i)
        case .segmentEnabled(let s, _), .stormReset(let s):
            guard segments[s] != nil else { throw EventRejected("unknown segment '\(s)'") }
        case .quorum, .leaderChanged:
            break
        case .configure(let c):
            try validateConfigure(c)
        case .actionStarted(let a):
            try validateStart(a)
        case .actionFinished(let key, let outcome):
            guard let a = inFlight[key] else {
                throw EventRejected("no action '\(key)' is in flight")
            }
            let fence = if case .fence = a { true } else { false }
            if fence && outcome == .ok || !fence && outcome == .off {
                throw EventRejected("outcome '\(outcome.rawValue)' does not apply to \(a.kind)")
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
        case .evacuate(let i, let from, let to):
            try requireHost(to)
            guard instances[i]!.host == from else {
                throw EventRejected("instance \(i) is on \(instances[i]!.host), not \(from)")
            }
            guard hosts[from]!.fence.isOff else {
                throw EventRejected("host \(from) is not confirmed off: \(i) cannot be evacuated")
            }
            guard !hosts[from]!.member else {
                throw EventRejected("host \(from) is running again: evacuating \(i) could run it twice")
            }
            guard hosts[to]!.segment == hosts[from]!.segment else {
                throw EventRejected("target \(to) is outside segment \(hosts[from]!.segment)")
            }
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
        case .quorum(let q):
            if quorate && !q {
                quorumLosses += 1
                raise(
                    Notice(
                        kind: .quorumLost, key: "\(quorumLosses)",
                        reason: "partition lost quorum: no fencing, evacuation or configuration change until it returns"))
            }
            quorate = q
        case .processFailed(let h, let p): processFailed(h, p)
        case .processRecovered(let h, let p):
            if hosts[h]!.failedProcess == p { hosts[h]!.failedProcess = nil }
            // An escalation that has not fenced yet is called off: the process is back.
            if let r = hosts[h]!.recovery, r.cause == .processFailure, !r.finished, !hosts[h]!.fence.isOff,
                inFlight["fence:\(h)"] == nil, hosts[h]!.member
            {
                hosts[h]!.recovery = nil
                hosts[h]!.fence = .none
                hosts[h]!.processFailures = 0
            }
        case .instanceFailed(let i): instanceFailed(i)
        case .maintenance(let h, let on): setMaintenance(h, on)
        case .fenceConfirmedByOperator(let h):
            hosts[h]!.fence = .confirmedByOperator
            if hosts[h]!.recovery == nil || hosts[h]!.recovery!.finished {
                startRecovery(h, cause: .nodeLost)
            }
            fencedOff(h)
        case .segmentEnabled(let s, let on): segments[s]!.enabled = on
        case .reserved(let h, let on): hosts[h]!.reserved = on
        case .haTag(let i, let on): instances[i]!.ha = on
        case .stormReset(let s):
            segments[s]!.stormHalted = false
            segments[s]!.recentLosses = [:]
        case .configure(let c): configure(c)
        case .leaderChanged:
            // Notices are told at once; everything else the old leader left in flight is
            // planned again and re-executed (executors are idempotent)...
            let dropped = inFlight.values
            inFlight = [:]
            // ...except an evacuation away from a host that is running again: it cannot be
            // re-issued, and its outcome is unknown. Release the booking and tell.
            for case .evacuate(let i, let from, let to) in dropped where hosts[from]!.member {
                hosts[to]!.used -= instances[i]!.flavor
                instances[i]!.evacuatingTo = nil
                instances[i]!.state = .error
                raise(
                    Notice(
                        kind: .evacuationFailed, key: "\(i)@leader#\(hosts[from]!.failureCount)",
                        reason: "the leader changed while \(i) was being evacuated from \(from) to \(to), and \(from) is running again: check where \(i) runs in Nova",
                        host: from, instance: i))
            }
        case .actionStarted(let a): started(a)
        case .actionFinished(let key, let outcome):
            let a = inFlight.removeValue(forKey: key)!
            finished(a, outcome)
        }
    }

    mutating func raise(_ notice: Notice) {
        guard !noticeKeys.contains(notice.key), !pendingNotices.contains(where: { $0.key == notice.key })
        else { return }
        pendingNotices.append(notice)
    }

    mutating func startRecovery(_ h: String, cause: FailureCause) {
        hosts[h]!.failureCount += 1
        hosts[h]!.recovery = HostRecovery(cause: cause, detectedAt: now)
        if hosts[h]!.fence != .confirmedByOperator { hosts[h]!.fence = .none }
    }

    /// A recovery is active while it has not finished.
    func recovering(_ h: String) -> Bool {
        if let r = hosts[h]!.recovery { !r.finished } else { false }
    }

    mutating func nodeLost(_ h: String) {
        guard hosts[h]!.member else { return }
        hosts[h]!.member = false
        guard !hosts[h]!.maintenance, !recovering(h) else { return }
        if hosts[h]!.fence.isOff { return }  // fenced and not yet re-admitted: it is off
        recordLossForStormGuard(h)
        startRecovery(h, cause: .nodeLost)
    }

    mutating func recordLossForStormGuard(_ h: String) {
        let name = hosts[h]!.segment
        var seg = segments[name]!
        seg.recentLosses = seg.recentLosses.filter { now - $0.value < policy.stormWindow }
        seg.recentLosses[h] = now
        let total = hostsBySegment[name]?.count ?? 0
        let lost = seg.recentLosses.count
        if !seg.stormHalted && lost >= 2 && Double(lost) > policy.stormThreshold * Double(total) {
            seg.stormHalted = true
            seg.stormCount += 1
            raise(
                Notice(
                    kind: .stormHalted, key: "\(name)#\(seg.stormCount)",
                    reason:
                        "\(lost) of \(total) hosts of segment \(name) lost within \(policy.stormWindow) s: looks like a switch or power failure; automatic fencing and evacuation halted in the segment until an operator resets it",
                    segment: name))
        }
        segments[name] = seg
    }

    mutating func nodeJoined(_ h: String) {
        guard !hosts[h]!.member else { return }
        hosts[h]!.member = true
        hosts[h]!.readmissionFailed = false
        hosts[h]!.failedProcess = nil
        hosts[h]!.processFailures = 0
        // Back before it was fenced: the failure healed by itself, nothing to recover.
        // A fence already in flight is let finish (the host then leaves again).
        if recovering(h), !hosts[h]!.fence.isOff, inFlight["fence:\(h)"] == nil {
            hosts[h]!.recovery = nil
            hosts[h]!.fence = .none
        }
        // Back while its instances were being evacuated: it was powered on again, and Nova
        // may restart its instances there. Moving the rest could run them twice: stop and
        // tell (evacuations already in flight finish).
        if recovering(h), hosts[h]!.fence.isOff {
            let left = (instancesByHost[h] ?? []).sorted().filter { id in
                let i = instances[id]!
                return i.ha && (i.state == .active || i.state == .failed)
            }
            hosts[h]!.recovery!.finished = true
            if !left.isEmpty {
                raise(
                    Notice(
                        kind: .evacuationInterrupted, key: "\(h)#\(hosts[h]!.failureCount)",
                        reason: "\(h) came back while its instances were being evacuated; not moved: \(left.joined(separator: ", ")) (check them in Nova before acting)",
                        host: h))
            }
        }
    }

    mutating func processFailed(_ h: String, _ p: String) {
        let host = hosts[h]!
        guard host.member, !host.maintenance, !recovering(h), !host.fence.isOff else { return }
        hosts[h]!.failedProcess = p
        countProcessFailure(h)
    }

    mutating func countProcessFailure(_ h: String) {
        // Like Pacemaker's failure-timeout: a quiet period forgets earlier failures.
        if policy.failureTimeout > 0, let last = hosts[h]!.lastProcessFailureAt, now - last >= policy.failureTimeout {
            hosts[h]!.processFailures = 0
        }
        hosts[h]!.lastProcessFailureAt = now
        hosts[h]!.processFailures += 1
        if hosts[h]!.processFailures > policy.processRestartLimit {
            startRecovery(h, cause: .processFailure)
        }
    }

    mutating func instanceFailed(_ i: String) {
        let inst = instances[i]!
        let host = hosts[inst.host]!
        guard inst.state == .active, host.member, !host.maintenance, !recovering(inst.host),
            !host.fence.isOff
        else { return }
        if policy.failureTimeout > 0, let last = inst.lastFailureAt, now - last >= policy.failureTimeout {
            instances[i]!.failures = 0
        }
        instances[i]!.lastFailureAt = now
        instances[i]!.state = .failed
        instances[i]!.failures += 1
        failedInstances.insert(i)
        checkInstanceRestartLimit(i)
    }

    /// Past the restart limit a failed instance is left in error and the operator told.
    mutating func checkInstanceRestartLimit(_ i: String) {
        guard instances[i]!.state == .failed, instances[i]!.failures > policy.instanceRestartLimit
        else { return }
        failedInstances.remove(i)
        instances[i]!.state = .error
        raise(
            Notice(
                kind: .instanceRestartLimit, key: "\(i)#\(instances[i]!.failures)",
                reason: "instance \(i) failed \(instances[i]!.failures) times on \(instances[i]!.host); restart limit \(policy.instanceRestartLimit) reached",
                host: instances[i]!.host, instance: i))
    }

    mutating func setMaintenance(_ h: String, _ on: Bool) {
        hosts[h]!.maintenance = on
        // Leaving maintenance while lost: the loss is a failure from now on.
        if !on, !hosts[h]!.member, !recovering(h), !hosts[h]!.fence.isOff {
            startRecovery(h, cause: .nodeLost)
        }
    }

    mutating func fencedOff(_ h: String) {
        hosts[h]!.member = false
        if hosts[h]!.recovery!.startedAt == nil {  // confirmed by an operator, not fenced by us
            hosts[h]!.recovery!.startedAt = now
            hosts[h]!.recovery!.targets = EvacuationPlacement.targetTiers(for: h, in: self)
        }
        hosts[h]!.failedProcess = nil
        for id in instancesByHost[h] ?? [] where !instances[id]!.ha && instances[id]!.state != .error {
            instances[id]!.state = .stopped
            failedInstances.remove(id)
        }
        refreshRecovery(h)
    }

    /// Marks the host's recovery finished once nothing is left to move.
    mutating func refreshRecovery(_ h: String) {
        guard let r = hosts[h]!.recovery, !r.finished, hosts[h]!.fence.isOff, r.forceDown == .done
        else { return }
        let open = (instancesByHost[h] ?? []).contains { id in
            let inst = instances[id]!
            return inst.ha && (inst.state == .active || inst.state == .failed || inst.state == .evacuating)
        }
        if !open { hosts[h]!.recovery!.finished = true }
    }

    // MARK: The leader's record

    mutating func started(_ a: Action) {
        switch a {
        case .notify(let n):
            notices.append(RecordedNotice(at: now, notice: n))
            noticeKeys.insert(n.key)
            pendingNotices.removeAll { $0.key == n.key }
            noticeTaken(n)
            return
        case .fence(let h):
            if hosts[h]!.recovery!.startedAt == nil {
                hosts[h]!.recovery!.startedAt = now
                hosts[h]!.recovery!.targets = EvacuationPlacement.targetTiers(for: h, in: self)
            }
        case .evacuate(let i, _, let to):
            if instances[i]!.evacuatingTo != to {
                instances[i]!.state = .evacuating
                instances[i]!.evacuatingTo = to
                hosts[to]!.used += instances[i]!.flavor
                // A reserve that receives instances is no longer a reserve.
                hosts[to]!.reserved = false
            }
            failedInstances.remove(i)
        default:
            break
        }
        inFlight[a.key] = a
    }

    /// The consequence of telling a notice that gives up on something.
    mutating func noticeTaken(_ n: Notice) {
        switch n.kind {
        case .noCapacity, .instanceNotHA:
            if let i = n.instance {
                instances[i]!.state = .error
                failedInstances.remove(i)
                if let h = n.host { refreshRecovery(h) }
            }
        case .flapping:
            if let h = n.host { hosts[h]!.fence = .failed }
        default:
            break
        }
    }

    mutating func finished(_ a: Action, _ outcome: Outcome) {
        let ok = outcome.succeeded
        switch a {
        case .fence(let h):
            // An operator confirmation that came first already settled the power state.
            guard hosts[h]!.recovery != nil, !hosts[h]!.fence.isOff else { return }
            if ok {
                hosts[h]!.fence = .off
                hosts[h]!.fencedAt = hosts[h]!.fencedAt.filter { now - $0 < policy.flapWindow } + [now]
                fencedOff(h)
            } else {
                hosts[h]!.recovery!.fenceAttempts += 1
                if hosts[h]!.recovery!.fenceAttempts >= policy.fenceAttemptLimit { hosts[h]!.fence = .failed }
            }
        case .forceDown(let h):
            guard hosts[h]!.recovery != nil else { return }
            if ok {
                hosts[h]!.service = .forcedDown
                hosts[h]!.recovery!.forceDown = .done
                refreshRecovery(h)
            } else {
                hosts[h]!.recovery!.forceDown = .failed
                hosts[h]!.recovery!.finished = true
                raise(
                    Notice(
                        kind: .forceDownFailed, key: "\(h)#\(hosts[h]!.failureCount)",
                        reason: "could not force nova-compute down on \(h) (\(outcome.rawValue)): its instances were not evacuated; `lifeboat fence --confirm \(h)` retries the recovery",
                        host: h))
            }
        case .disableService(let h):
            if ok {
                if hosts[h]!.service == .up { hosts[h]!.service = .disabled }
                hosts[h]!.recovery?.disable = .done
            } else {
                hosts[h]!.recovery?.disable = .failed
                raise(
                    Notice(
                        kind: .serviceStepFailed, key: "disable:\(h)#\(hosts[h]!.failureCount)",
                        reason: "could not disable nova-compute on \(h) in the scheduler (\(outcome.rawValue))",
                        host: h))
            }
        case .enableService(let h):
            if ok {
                hosts[h]!.service = .up
                hosts[h]!.fence = .none
                hosts[h]!.recovery = nil
                hosts[h]!.processFailures = 0
                switch policy.readmitReserve {
                case .keep: break
                case .reserve: hosts[h]!.reserved = true
                case .unreserve: hosts[h]!.reserved = false
                }
            } else {
                hosts[h]!.readmissionFailed = true  // not retried in a loop; a rejoin retries
                raise(
                    Notice(
                        kind: .serviceStepFailed, key: "enable:\(h)#\(hosts[h]!.failureCount)",
                        reason: "could not re-enable nova-compute on \(h) (\(outcome.rawValue)): it stays out of the scheduler",
                        host: h))
            }
        case .restartProcess(let h, _):
            if ok {
                hosts[h]!.failedProcess = nil
            } else if !recovering(h) {
                countProcessFailure(h)
            }
        case .restartInstance(let i, _):
            guard instances[i] != nil else { return }
            if ok {
                instances[i]!.state = .active
                failedInstances.remove(i)
            } else if instances[i]!.state == .failed {
                instances[i]!.failures += 1
                checkInstanceRestartLimit(i)
            }
        case .evacuate(let i, let from, let to):
            let flavor = instances[i]!.flavor
            instances[i]!.evacuatingTo = nil
            if ok {
                instances[i]!.host = to
                instances[i]!.state = .active
                instancesByHost[from]?.remove(i)
                instancesByHost[to, default: []].insert(i)
                hosts[from]!.used -= flavor
                // The target failed while the instance was on its way: it is now on a
                // failed host, whose recovery must take it along.
                if let r = hosts[to]!.recovery {
                    if r.forceDown == .failed {
                        raise(
                            Notice(
                                kind: .evacuationFailed, key: "\(i)@\(to)#\(hosts[to]!.failureCount)",
                                reason: "\(i) arrived on \(to), which failed meanwhile and could not be forced down: it is not moved again",
                                host: to, instance: i))
                    } else {
                        hosts[to]!.recovery!.finished = false
                        refreshRecovery(to)
                    }
                }
            } else {
                hosts[to]!.used -= flavor
                instances[i]!.state = .error
                raise(
                    Notice(
                        kind: .evacuationFailed, key: "\(i)#\(hosts[from]!.failureCount)",
                        reason: "evacuation of \(i) from \(from) to \(to) failed (\(outcome.rawValue))",
                        host: from, instance: i))
            }
            refreshRecovery(from)
        case .notify:
            break
        }
    }
}
