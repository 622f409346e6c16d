/// The leader's record of its own work: an action started, an action finished, a notice
/// told. Every member applies these in the same order, so a new leader knows exactly what
/// is in flight and what is done. Called only from `apply` after validation.
extension ClusterState {
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
                // A booking on an earlier target (which went away meanwhile) is released.
                if let old = instances[i]!.evacuatingTo { hosts[old]?.used -= instances[i]!.flavor }
                instances[i]!.state = .evacuating
                instances[i]!.evacuatingTo = to
                hosts[to]!.used += instances[i]!.flavor
            }
            instances[i]!.gaveUpAt = nil
            // A reserve that receives instances is no longer a reserve (also when an operator
            // marked it reserved again while this evacuation waited for a new leader).
            hosts[to]!.reserved = false
            failedInstances.remove(i)
        case .migrate(let i, _, let to):
            migrationStarted(i, to: to)
        default:
            break
        }
        inFlight[a.key] = ActionRecord(action: a, attempt: Attempt(term: term, id: epoch), startedAt: now, leader: termHolder?.node)
    }

    /// The consequence of telling a notice that gives up on something.
    mutating func noticeTaken(_ n: Notice) {
        switch n.kind {
        case .noCapacity, .instanceNotHA:
            if let i = n.instance {
                instances[i]!.state = .error
                if n.kind == .noCapacity { instances[i]!.gaveUpAt = now }
                failedInstances.remove(i)
                if let h = n.host { refreshRecovery(h) }
            }
        case .flapping:
            if let h = n.host { hosts[h]!.fence = .failed }
        case .drainBlocked:
            if let i = n.instance, let h = n.host, hosts[h]?.drain != nil {
                hosts[h]!.drain!.blocked[i] = n.reason
                // A move re-planned after a leader change that finds no room now: its old
                // booking is released; the instance runs where it is.
                if instances[i]?.state == .migrating, inFlight["migrate:\(i)"] == nil {
                    if let to = instances[i]!.evacuatingTo { hosts[to]?.used -= instances[i]!.flavor }
                    instances[i]!.evacuatingTo = nil
                    instances[i]!.state = .active
                }
                refreshDrain(h)
            }
        default:
            break
        }
    }

    mutating func finished(_ a: Action, _ report: ActionReport) {
        let outcome = report.outcome
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
                hosts[h]!.recovery!.fenceFailedAt = now
                if hosts[h]!.recovery!.fenceAttempts >= policy.fenceAttemptLimit { hosts[h]!.fence = .failed }
            }
        case .forceDown(let h):
            guard hosts[h]!.recovery != nil else { return }
            if ok {
                hosts[h]!.service = .forcedDown
                hosts[h]!.recovery!.forceDown = .done
                refreshRecovery(h)
            } else {
                // Nova down or refusing: the recovery waits and tries again (nothing is
                // evacuated before Nova knows the host is down).
                hosts[h]!.recovery!.forceDown = .failed
                hosts[h]!.recovery!.serviceStepFailedAt = now
                raise(
                    Notice(
                        kind: .forceDownFailed, key: "\(h)#\(hosts[h]!.failureCount)",
                        reason: "could not force nova-compute down on \(h) (\(outcome.rawValue)): its instances wait for it; tried again every \(policy.novaRetryInterval) s",
                        host: h))
            }
        case .disableService(let h):
            if ok {
                if hosts[h]!.service == .up { hosts[h]!.service = .disabled }
                hosts[h]!.recovery?.disable = .done
            } else {
                hosts[h]!.recovery?.disable = .failed
                hosts[h]!.recovery?.serviceStepFailedAt = now
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
                hosts[h]!.processes = [:]
                switch policy.readmitReserve {
                case .keep: break
                case .reserve: hosts[h]!.reserved = true
                case .unreserve: hosts[h]!.reserved = false
                }
            } else {
                hosts[h]!.readmissionFailed = true  // retried after the interval, and on a rejoin
                hosts[h]!.readmissionFailedAt = now
                let records = report.attributes["refused_for"] == Self.doneEvacuationRecords
                let next =
                    switch readmissionStep(h) {
                    case .restartNovaCompute(let p):
                        "Nova keeps finished evacuation records on it: \(p) is restarted there to clear them, then it is enabled again"
                    default:
                        records
                            ? "Nova keeps finished evacuation records on it until nova-compute restarts there; tried again every \(policy.novaRetryInterval) s"
                            : "tried again every \(policy.novaRetryInterval) s"
                    }
                raise(
                    Notice(
                        kind: .serviceStepFailed, key: "enable:\(h)#\(hosts[h]!.failureCount)",
                        reason: "could not re-enable nova-compute on \(h) (\(outcome.rawValue)): it stays out of the scheduler; \(next)",
                        host: h))
            }
        case .restartProcess(let h, let p):
            if ok {
                hosts[h]!.processes[p]?.failed = false
                if hosts[h]!.processes[p]?.isClean == true { hosts[h]!.processes[p] = nil }
            } else if hosts[h]!.service != .up, !recovering(h) {
                // Restarted to clear Nova's finished evacuation records before the host is
                // re-admitted (`readmissionStep`), not because it failed: not a failure of
                // the process to count toward its limit; the operator is told.
                raise(
                    Notice(
                        kind: .serviceStepFailed, key: "readmit-restart:\(h)#\(hosts[h]!.failureCount)",
                        reason: "could not restart \(p) on \(h) (\(outcome.rawValue)), which Nova needs before it takes \(h) back (finished evacuation records remain): \(h) stays out of the scheduler; tried again every \(policy.novaRetryInterval) s",
                        host: h))
            } else if !recovering(h), hosts[h]!.processes[p]?.blocked == nil {
                countProcessFailure(h, p)
            }
        case .restartInstance(let i, _):
            guard instances[i] != nil else { return }
            if ok {
                instances[i]!.state = .active
                instances[i]!.gaveUpAt = nil
                failedInstances.remove(i)
            } else if instances[i]!.givenUpOn {
                // A restart in place after its evacuation was given up: not tried again.
                instances[i]!.gaveUpAt = nil
                let h = instances[i]!.host
                raise(
                    Notice(
                        kind: .evacuationFailed, key: "\(i)#\(hosts[h]!.failureCount)@restart",
                        reason: "\(i), left on \(h) when its evacuation was given up, could not be restarted there after \(h) came back (\(outcome.rawValue)); it stays in error: check it in Nova",
                        host: h, instance: i))
            } else if instances[i]!.state == .failed {
                instances[i]!.failures += 1
                checkInstanceRestartLimit(i)
            }
        case .evacuate(let i, let from, let to):
            let flavor = instances[i]!.flavor
            instances[i]!.evacuatingTo = nil
            instances[i]!.evacuationInterruptedAt = nil
            if ok {
                instances[i]!.host = to
                instances[i]!.state = .active
                instances[i]!.evacuationFailures = 0
                instances[i]!.failedTargets = []
                instancesByHost[from]?.remove(i)
                instancesByHost[to, default: []].insert(i)
                hosts[from]!.used -= flavor
                // The target failed while the instance was on its way: it is now on a
                // failed host, whose recovery must take it along.
                if hosts[to]!.recovery != nil {
                    hosts[to]!.recovery!.finished = false
                    refreshRecovery(to)
                }
            } else if hostIsBack(from) {
                // It failed after its source came back (a failure Nova reports only once the
                // host runs again, or an attempt that ended as it rejoined): not tried again,
                // which could run it twice. Where it is now only Nova knows: tell the operator.
                abandonEvacuation(
                    i, from: from, to: to, key: "\(i)#\(hosts[from]!.failureCount)@back",
                    reason: "evacuation of \(i) from \(from) to \(to) ended \(outcome.rawValue) after \(from) came back: check where \(i) runs in Nova")
            } else if instances[i]!.evacuationFailures + 1 < policy.evacuationAttemptLimit {
                // Tried again on another target of the segment (the booking here is released).
                hosts[to]!.used -= flavor
                instances[i]!.state = .active
                instances[i]!.evacuationFailures += 1
                instances[i]!.failedTargets.append(to)
            } else {
                let n = instances[i]!.evacuationFailures + 1
                instances[i]!.evacuationFailures = n
                abandonEvacuation(
                    i, from: from, to: to, key: "\(i)#\(hosts[from]!.failureCount)",
                    reason: "evacuation of \(i) from \(from) failed \(n) times (last to \(to): \(outcome.rawValue)); it stays on \(from)")
            }
            refreshRecovery(from)
        case .migrate(let i, let from, let to):
            guard instances[i] != nil, hosts[from] != nil, hosts[to] != nil else { return }
            migrationFinished(i, from: from, to: to, outcome)
        case .notify:
            break
        }
    }

    /// An evacuation that will not complete: release its booking on the target, leave the
    /// instance in error on its source, and tell the operator.
    mutating func abandonEvacuation(_ i: String, from: String, to: String, key: String, reason: String) {
        hosts[to]!.used -= instances[i]!.flavor
        instances[i]!.evacuatingTo = nil
        instances[i]!.evacuationInterruptedAt = nil
        instances[i]!.state = .error
        instances[i]!.gaveUpAt = now
        raise(Notice(kind: .evacuationFailed, key: key, reason: reason, host: from, instance: i))
    }
}

extension ClusterState {
    /// Records `action` as started in the current term, as the leader would; returns its
    /// attempt. For tests, benchmarks and offline tools.
    @discardableResult
    public mutating func start(_ action: Action, at time: Double) throws(EventRejected) -> Attempt? {
        try apply(.actionStarted(action, term: term), at: time)
        return inFlight[action.key]?.attempt
    }

    /// Records the result of the attempt of `key` now in flight.
    public mutating func finish(_ key: String, _ outcome: Outcome, at time: Double) throws(EventRejected) {
        guard let r = inFlight[key] else { throw EventRejected("no action '\(key)' is in flight") }
        try apply(.actionFinished(key: key, attempt: r.attempt, report: ActionReport(outcome)), at: time)
    }
}

extension ClusterState {
    /// Whether a host whose instances were being moved away runs again: a member, back
    /// after its fence, or no longer in recovery.
    public func hostIsBack(_ host: String) -> Bool {
        guard let h = hosts[host] else { return false }
        return h.member || runsAgainAfterItsFence(host)
    }

    /// Whether a host is out of (or past) its recovery because it rejoined after its fence:
    /// a service step of that recovery (force down, disable) must not reach Nova any more.
    /// Unlike `hostIsBack`, a member not yet seen leaving (fenced a moment ago) is not back.
    public func runsAgainAfterItsFence(_ host: String) -> Bool {
        guard let h = hosts[host] else { return false }
        return h.recovery == nil || h.recovery?.rejoinedAt != nil
    }
}
