/// How failures enter the state: hosts lost and back, processes and instances failing,
/// maintenance, the storm guard, and the bookkeeping of a host recovery. Called only from
/// `apply` (ClusterState+Apply.swift) after the event was validated.
extension ClusterState {
    mutating func raise(_ notice: Notice) {
        guard !noticeKeys.contains(notice.key), !pendingNotices.contains(where: { $0.key == notice.key })
        else { return }
        pendingNotices.append(notice)
    }

    mutating func startRecovery(_ h: String, cause: FailureCause) {
        hosts[h]!.failureCount += 1
        for id in instancesByHost[h] ?? [] {
            instances[id]!.evacuationFailures = 0
            instances[id]!.failedTargets = []
        }
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
        if hosts[h]!.fence.isOff {
            // Fenced and not seen since: it is off, and this is the fence taking effect.
            guard hosts[h]!.recovery?.rejoinedAt != nil else { return }
            // It rejoined after that fence, so it ran again: the old power-off (even an
            // operator's confirmation) says nothing about now. A new failure, fenced again.
            hosts[h]!.fence = .none
        }
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

    /// Startup fencing: a host still unseen after the grace period is treated as lost.
    mutating func nodeUnseen(_ h: String) {
        let host = hosts[h]!
        guard host.unseen, !host.member, !host.maintenance, !recovering(h), !host.fence.isOff else { return }
        // Half a segment missing after a restart looks like a power or switch failure too.
        recordLossForStormGuard(h)
        startRecovery(h, cause: .unseenAtStartup)
        raise(
            Notice(
                kind: .hostUnseen, key: "\(h)#\(hosts[h]!.failureCount)",
                reason: "\(h) has not joined within \(policy.startupGrace) s of the cluster starting: treated as lost and fenced (startup_fencing)",
                host: h))
    }

    mutating func nodeJoined(_ h: String) {
        hosts[h]!.unseen = false
        guard !hosts[h]!.member else { return }
        hosts[h]!.member = true
        hosts[h]!.readmissionFailed = false
        hosts[h]!.readmissionFailedAt = nil
        // A host that comes back starts with a clean slate, like Pacemaker's status section.
        hosts[h]!.processes = [:]
        // Back after its fence: it runs (see `HostRecovery.rejoinedAt`).
        if hosts[h]!.fence.isOff, hosts[h]!.recovery != nil { hosts[h]!.recovery!.rejoinedAt = now }
        // Back before it was fenced: the failure healed by itself, nothing to recover.
        // A fence already in flight is let finish (the host then leaves again).
        if recovering(h), !hosts[h]!.fence.isOff, inFlight["fence:\(h)"] == nil {
            hosts[h]!.recovery = nil
            hosts[h]!.fence = .none
        }
        // Back while its instances were being evacuated: it was powered on again, and Nova
        // may restart its instances there. Moving the rest could run them twice: stop and
        // tell (evacuations already in flight finish). Those not moved died with its
        // power-off: they are given up on here, and so restarted in place once it is back in
        // the scheduler (`Scheduler.planStrandedRestarts`, if Nova still has them there).
        if recovering(h), hosts[h]!.fence.isOff {
            let left = (instancesByHost[h] ?? []).sorted().filter { id in
                let i = instances[id]!
                return i.ha && (i.state == .active || i.state == .failed)
            }
            hosts[h]!.recovery!.finished = true
            // An evacuation whose attempt a leader change dropped cannot be re-issued now
            // (its source runs again): release its booking and tell, like `requeue` does.
            for id in (instancesByHost[h] ?? []).sorted() {
                guard let i = instances[id], i.state == .evacuating, let to = i.evacuatingTo,
                    inFlight["evacuate:\(id)"] == nil
                else { continue }
                abandonEvacuation(
                    id, from: h, to: to, key: "\(id)@rejoin#\(hosts[h]!.failureCount)",
                    reason: "\(h) came back while \(id) was being evacuated to \(to), after a leader change: check where \(id) runs in Nova")
            }
            if !left.isEmpty {
                for id in left {
                    instances[id]!.state = .error
                    instances[id]!.gaveUpAt = now
                    failedInstances.remove(id)
                }
                raise(
                    Notice(
                        kind: .evacuationInterrupted, key: "\(h)#\(hosts[h]!.failureCount)",
                        reason: "\(h) came back while its instances were being evacuated; not moved: \(left.joined(separator: ", ")) (restarted there once it is back in the scheduler, if Nova still has them there)",
                        host: h))
            }
        }
    }

    /// The configured resource of that name that applies to the host, if any.
    public func resource(_ name: String, on host: String) -> Resource? {
        guard let h = hosts[host] else { return nil }
        return resources.first { $0.name == name && $0.applies(to: h) }
    }

    /// Resources that apply to a host, in name order.
    public func resources(on host: String) -> [Resource] {
        guard let h = hosts[host] else { return [] }
        return resources.filter { $0.applies(to: h) }.sorted { $0.name < $1.name }
    }

    mutating func processFailed(_ h: String, _ p: String) {
        let host = hosts[h]!
        guard host.member, !host.maintenance, !recovering(h), !host.fence.isOff, host.processes[p]?.blocked == nil else { return }
        hosts[h]!.processes[p, default: ProcessHealth()].failed = true
        countProcessFailure(h, p)
    }

    mutating func countProcessFailure(_ h: String, _ p: String) {
        let spec = resource(p, on: h)
        let limit = spec?.restartLimit ?? policy.processRestartLimit
        let timeout = spec?.failureTimeout ?? policy.failureTimeout
        var health = hosts[h]!.processes[p] ?? ProcessHealth()
        // Like Pacemaker's failure-timeout: a quiet period forgets earlier failures.
        if timeout > 0, let last = health.lastFailureAt, now - last >= timeout { health.failures = 0 }
        health.lastFailureAt = now
        health.failures += 1
        hosts[h]!.processes[p] = health
        guard health.failures > limit else { return }
        if spec?.onFail == .block {
            blockProcess(h, p, "failed \(health.failures) times, restart limit \(limit) reached (on_fail: block)")
        } else {
            startRecovery(h, cause: .processFailure)
        }
    }

    /// Not restarted again until an operator cleans it up; the operator is told.
    mutating func blockProcess(_ h: String, _ p: String, _ why: String) {
        guard hosts[h]!.processes[p]?.blocked == nil else { return }
        hosts[h]!.processes[p, default: ProcessHealth()].blocked = why
        hosts[h]!.processes[p]!.failed = false
        raise(
            Notice(
                kind: .resourceBlocked, key: "\(h):\(p)#\(hosts[h]!.processes[p]!.failures)#\(epoch)",
                reason: "\(p) on \(h) is blocked: \(why); fix it, then: lifeboat resource cleanup \(p) \(h)",
                host: h))
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
        if !on { stopDrain(h, why: "\(h) left maintenance") }
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
        for p in hosts[h]!.processes.keys { hosts[h]!.processes[p]!.failed = false }
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
            return inst.ha && (inst.state == .active || inst.state == .failed || inst.state == .evacuating || inst.state == .migrating)
        }
        if !open { hosts[h]!.recovery!.finished = true }
    }
}
