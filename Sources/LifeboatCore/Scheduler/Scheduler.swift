/// The leader's decisions. `plan` is a pure function of the state, level-triggered like a
/// Pacemaker transition: it returns the actions that should be running and are not yet
/// recorded as started. The leader records each as `Event.actionStarted` before it runs
/// it, so planning again never repeats an action in flight or a finished step.
///
/// Where a decision is made:
/// - fence or not, and when: `planHostRecovery` (quorum, maintenance, disabled segment,
///   storm guard, concurrency slots, flap guard, fence attempt limit);
/// - where instances go: `EvacuationPlacement`;
/// - restarts in place: `planProcessRestarts`, `planInstanceRestarts`,
///   `planStrandedRestarts`;
/// - re-admission of a host that came back: `planReadmissions`;
/// - moving instances off a host drained for maintenance: `planDrains`.
public enum Scheduler {
    public static func plan(_ state: ClusterState) -> [Action] {
        var actions: [Action] = state.pendingNotices.map { .notify($0) }
        // Invariant 2: without quorum, nothing but notices.
        guard state.quorate else { return actions }

        var evacuations: [(instance: Instance, tiers: [[String]])] = []
        var slotsFree = state.policy.maxConcurrentHostRecoveries - state.recoveriesInFlight
        // Recoveries in the order their failures were detected: queued ones start first-come.
        var open: [(at: Double, node: UInt32, name: String, recovery: HostRecovery)] = []
        for name in state.hostOrder {
            let h = state.hosts[name]!
            guard let recovery = h.recovery, !recovery.finished else { continue }
            open.append((recovery.detectedAt, h.nodeID, name, recovery))
        }
        open.sort { ($0.at, $0.node) < ($1.at, $1.node) }
        for o in open { planHostRecovery(o.name, o.recovery, state, &actions, &evacuations, &slotsFree) }
        planEvacuationRetries(state, &actions, &evacuations)
        if !evacuations.isEmpty {
            evacuations.sort { a, b in
                (b.instance.priority, a.instance.id) < (a.instance.priority, b.instance.id)
            }
            let targets = EvacuationPlacement.place(evacuations, in: state)
            for (request, target) in zip(evacuations, targets) {
                let inst = request.instance
                if let to = target {
                    actions.append(.evacuate(instance: inst.id, from: inst.host, to: to))
                } else {
                    let seg = state.hosts[inst.host]!.segment
                    // Targets that refused it already are not tried again: say so, or the
                    // operator would look for a capacity problem that is not there.
                    let tried = inst.failedTargets.isEmpty
                        ? "" : " (its evacuations to \(inst.failedTargets.joined(separator: ", ")) failed; see their results)"
                    actions.append(
                        .notify(
                            Notice(
                                kind: .noCapacity, key: "\(inst.id)#\(state.hosts[inst.host]!.failureCount)",
                                reason: "no host of segment \(seg) has room for \(inst.id) (\(inst.flavor.summary)) under its recovery method\(tried); it stays on fenced host \(inst.host)",
                                host: inst.host, instance: inst.id, segment: seg)))
                }
            }
        }
        planProcessRestarts(state, &actions)
        planInstanceRestarts(state, &actions)
        planStrandedRestarts(state, &actions)
        planReadmissions(state, &actions)
        // Evacuations planned above take room that the drains' placement must not give away.
        var planned: [String: Capacity] = [:]
        for a in actions {
            guard case .evacuate(let i, _, let to) = a, state.instances[i]?.evacuatingTo != to else { continue }
            planned[to, default: .zero] += state.instances[i]!.flavor
        }
        planDrains(state, &actions, planned: planned)
        return actions.filter { a in
            if case .notify(let n) = a { return !state.noticeKeys.contains(n.key) }
            return state.inFlight[a.key] == nil
        }
    }

    /// One host recovery: fence → force down + disable → evacuate.
    static func planHostRecovery(
        _ name: String, _ recovery: HostRecovery, _ state: ClusterState, _ actions: inout [Action],
        _ evacuations: inout [(instance: Instance, tiers: [[String]])], _ slotsFree: inout Int
    ) {
        let host = state.hosts[name]!
        let segment = state.segments[host.segment]!
        // Invariant 5: a host in maintenance gets no recovery at all.
        if host.maintenance { return }
        if !segment.enabled {
            actions.append(
                .notify(
                    Notice(
                        kind: .segmentDisabled, key: "\(name)#\(host.failureCount)",
                        reason: "host \(name) failed but segment \(segment.name) is disabled: no automatic recovery",
                        host: name, segment: segment.name)))
            return
        }
        if segment.stormHalted { return }  // told once when the storm was detected

        if host.fence.isOff {
            // Force down first, then disable; a failed step is tried again after the interval.
            let retry = recovery.serviceStepFailedAt.map { state.now - $0 >= state.policy.novaRetryInterval } ?? true
            if recovery.forceDown == .pending || (recovery.forceDown == .failed && retry) { actions.append(.forceDown(host: name)) }
            // Disabling a dead compute that is not forced down blocks in nova-api: after it.
            if recovery.forceDown == .done, recovery.disable == .pending || (recovery.disable == .failed && retry) {
                actions.append(.disableService(host: name))
            }
            guard recovery.forceDown == .done else { return }
            // After a cold start, targets are not known until the hosts rejoin: no evacuation
            // is placed (or re-placed) while hosts of the segment are unseen within the grace.
            if state.segmentIsSettling(host.segment) { return }
            planEvacuations(name, recovery, state, &actions, &evacuations)
            return
        }
        if host.fence == .failed {
            // Stopped by the flap guard: its own notice already asked for a confirmation.
            guard recovery.fenceAttempts > 0 else { return }
            // Tried again now and then: a BMC that comes back lets the recovery go on.
            let interval = state.policy.fenceRetryInterval
            if interval > 0, let failed = recovery.fenceFailedAt, state.now - failed >= interval,
                state.inFlight["fence:\(name)"] == nil
            {
                actions.append(.fence(host: name))
            }
            actions.append(
                .notify(
                    Notice(
                        kind: .fenceFailed, key: "\(name)#\(host.failureCount)",
                        reason: host.member
                            ? "fencing \(name) failed \(recovery.fenceAttempts) times; it is still a cluster member: repair nova-compute (the escalation is called off when it reports back) or power it off and confirm (lifeboat fence --confirm \(name))"
                            : "fencing \(name) failed \(recovery.fenceAttempts) times: nothing is evacuated until an operator confirms it is off (lifeboat fence --confirm \(name))",
                        host: name)))
            return
        }
        // An escalated nova-compute failure is fenced first too, like a lost host: disabling
        // the service of a dead nova-compute before it is forced down blocks ~60 s in
        // nova-api (an RPC to the dead compute), while fence + force-down take about a second.
        if state.inFlight["fence:\(name)"] != nil { return }
        if recovery.startedAt == nil {
            guard slotsFree > 0 else { return }  // queued behind recoveries in flight
            let recent = host.fencedAt.filter { state.now - $0 < state.policy.flapWindow }.count
            if recent >= state.policy.flapLimit {
                actions.append(
                    .notify(
                        Notice(
                            kind: .flapping, key: "\(name)#\(host.failureCount)",
                            reason: "\(name) was fenced \(recent) times within \(state.policy.flapWindow) s and failed again: not fencing it in a loop; confirm it is off to recover its instances",
                            host: name)))
                return
            }
            slotsFree -= 1
        }
        actions.append(.fence(host: name))
    }

    /// A recovery's target tiers without the targets an instance's evacuation failed on.
    static func tiers(_ t: [[String]], excluding failed: [String]) -> [[String]] {
        failed.isEmpty ? t : t.map { $0.filter { !failed.contains($0) } }
    }

    /// nova-compute (or another monitored process) failed on a healthy host.
    static func planProcessRestarts(_ state: ClusterState, _ actions: inout [Action]) {
        for name in state.hostOrder {
            let h = state.hosts[name]!
            guard h.member, !h.maintenance, h.recovery == nil, h.fence == .none else { continue }
            for process in h.failedProcesses { actions.append(.restartProcess(host: name, process: process)) }
        }
    }

    /// A VM failed on a healthy host: restart HA instances in place, tell about others.
    static func planInstanceRestarts(_ state: ClusterState, _ actions: inout [Action]) {
        for id in state.failedInstances.sorted() {
            let inst = state.instances[id]!
            let h = state.hosts[inst.host]!
            guard inst.state == .failed, h.member, !h.maintenance, h.recovery == nil else { continue }
            if inst.ha {
                actions.append(.restartInstance(instance: id, host: inst.host))
            } else {
                actions.append(
                    .notify(
                        Notice(
                            kind: .instanceNotHA, key: "\(id)#\(inst.failures)",
                            reason: "instance \(id) failed on \(inst.host) and is not HA-tagged: not restarted",
                            host: inst.host, instance: id)))
            }
        }
    }

    /// HA instances given up on while their host was down (no room for them, evacuation
    /// failed) are still on it when it is re-admitted: they died with its power-off, and
    /// Nova has them in ERROR (a refused evacuation) or still ACTIVE (never moved). They are
    /// restarted in place, as an operator would (`nova reboot --hard`), once the host is back
    /// in the scheduler. Once per give-up: a failure is told, not tried again.
    static func planStrandedRestarts(_ state: ClusterState, _ actions: inout [Action]) {
        for name in state.hostOrder {
            let h = state.hosts[name]!
            // Only a host that failed can hold instances given up on.
            guard h.failureCount > 0, h.member, !h.maintenance, h.recovery == nil, h.fence == .none, h.service == .up
            else { continue }
            for inst in state.instances(on: name) where inst.ha && inst.givenUpOn
                && state.inFlight["evacuate:\(inst.id)"] == nil && state.inFlight["migrate:\(inst.id)"] == nil
            {
                actions.append(.restartInstance(instance: inst.id, host: name))
            }
        }
    }

    /// The instances of a fenced, forced-down host: HA ones still on it are placed; one given
    /// up on a while ago is placed again; one whose evacuation a leader change dropped is
    /// re-issued.
    static func planEvacuations(
        _ name: String, _ recovery: HostRecovery, _ state: ClusterState, _ actions: inout [Action],
        _ evacuations: inout [(instance: Instance, tiers: [[String]])]
    ) {
        for inst in state.instances(on: name) {
            // A live migration that was under way when the host failed: its result
            // comes first (it fails with its source, and the instance is evacuated then).
            if inst.state == .migrating, state.inFlight["migrate:\(inst.id)"] != nil { continue }
            // A restart in place still running (its host failed again meanwhile): its result
            // comes first; one server is never moved and restarted at once (chaos seed 10).
            if state.inFlight["restart_instance:\(inst.id)"] != nil { continue }
            if inst.ha && (inst.state == .active || inst.state == .failed || inst.state == .migrating) {
                evacuations.append((inst, tiers(recovery.targets, excluding: inst.failedTargets)))
            } else if inst.ha, inst.state == .error, let gaveUp = inst.gaveUpAt, state.policy.evacuationRetryInterval > 0,
                state.now - gaveUp >= state.policy.evacuationRetryInterval
            {
                // Given up on a while ago, its host still down: placed again on every target
                // (a refusal by Nova's scheduler is often brief); a failure gives up again,
                // and the operator, told the first time, is not told again.
                evacuations.append((inst, tiers(recovery.targets, excluding: [])))
            } else if inst.state == .evacuating, let to = inst.evacuatingTo, state.inFlight["evacuate:\(inst.id)"] == nil {
                if let target = state.hosts[to], EvacuationPlacement.isEligibleTarget(target) {
                    // Re-issued after a leader change: same target, capacity already booked.
                    actions.append(.evacuate(instance: inst.id, from: name, to: to))
                } else {
                    // The booked target went into maintenance or failed meanwhile: placed
                    // again (the old booking is released when the new start is recorded).
                    evacuations.append((inst, tiers(recovery.targets, excluding: inst.failedTargets)))
                }
            }
        }
    }

    /// A recovery is over once every HA instance moved or was given up on (it then holds no
    /// slot). While its host stays down (fenced, never back since), the instances given up on
    /// are placed again after `evacuation_retry_interval`, outside the slots.
    static func planEvacuationRetries(
        _ state: ClusterState, _ actions: inout [Action], _ evacuations: inout [(instance: Instance, tiers: [[String]])]
    ) {
        guard state.policy.evacuationRetryInterval > 0 else { return }
        for name in state.hostOrder {
            let h = state.hosts[name]!
            guard let r = h.recovery, r.finished, r.rejoinedAt == nil, !h.member, h.fence.isOff, r.forceDown == .done,
                !h.maintenance, state.segments[h.segment]?.enabled ?? false, !(state.segments[h.segment]?.stormHalted ?? true),
                !state.segmentIsSettling(h.segment)
            else { continue }
            planEvacuations(name, r, state, &actions, &evacuations)
        }
    }

    /// A fenced host that came back healthy is re-admitted once its recovery is over
    /// (`ClusterState+Readmission`: when Nova refuses, what comes next).
    /// Not while an evacuation away from it is still in flight (it came back in the middle
    /// of one): its result still belongs to the recovery, and Nova is not asked to enable
    /// a service it is moving an instance off.
    static func planReadmissions(_ state: ClusterState, _ actions: inout [Action]) {
        let evacuating = Set(state.inFlight.values.compactMap { r -> String? in
            if case .evacuate(_, let from, _) = r.action { from } else { nil }
        })
        for name in state.hostOrder {
            let h = state.hosts[name]!
            // Nor while a service step of its recovery is still in flight (started before it
            // rejoined): Nova would get "force down" and "enable" at once, in either order.
            guard h.member, !h.maintenance, h.service != .up || h.fence.isOff,
                h.recovery?.finished ?? true, !evacuating.contains(name),
                state.inFlight["force_down:\(name)"] == nil, state.inFlight["disable_service:\(name)"] == nil
            else { continue }
            // A failed attempt is retried after `nova_retry_interval`; one that Nova refused
            // for finished evacuation records restarts nova-compute there first.
            switch state.readmissionStep(name) {
            case .enable: actions.append(.enableService(host: name))
            case .restartNovaCompute(let process): actions.append(.restartProcess(host: name, process: process))
            case .wait: break
            }
        }
    }

    /// Hosts in maintenance being drained: their running instances are live-migrated to
    /// other hosts of the segment, highest priority first, at most `max_parallel_migrations`
    /// at once in the whole cluster; one that fits nowhere (or cannot be migrated) is told
    /// and left running where it is.
    static func planDrains(_ state: ClusterState, _ actions: inout [Action], planned: [String: Capacity] = [:]) {
        var busy = state.inFlight.values.filter { if case .migrate = $0.action { true } else { false } }.count
        var requests: [(instance: Instance, tiers: [[String]])] = []
        for name in state.hostOrder {
            let h = state.hosts[name]!
            guard h.maintenance, h.member, let d = h.drain, d.finishedAt == nil else { continue }
            let targets = drainTargets(name, state)
            for inst in state.instances(on: name) where d.blocked[inst.id] == nil && state.inFlight["migrate:\(inst.id)"] == nil {
                switch inst.state {
                case .migrating:
                    if let to = inst.evacuatingTo, let t = state.hosts[to], EvacuationPlacement.isEligibleTarget(t), !t.maintenance {
                        // Re-issued after a leader change: same target, capacity already booked.
                        actions.append(.migrate(instance: inst.id, from: name, to: to))
                        busy += 1
                    } else {
                        requests.append((inst, tiers(targets, excluding: inst.failedTargets)))
                    }
                case .active, .stopped:
                    // Running ones are live-migrated, stopped ones cold-migrated (the executor
                    // looks at Nova's status).
                    requests.append((inst, tiers(targets, excluding: inst.failedTargets)))
                case .failed, .error, .evacuating:
                    actions.append(
                        .notify(
                            Notice(
                                kind: .drainBlocked, key: "\(inst.id)@drain\(d.requestedAt)",
                                reason: "\(inst.id) is \(inst.state.rawValue) on \(name): only running or stopped instances are moved; it stays there",
                                host: name, instance: inst.id, segment: h.segment)))
                }
            }
        }
        let room = max(0, state.policy.maxParallelMigrations - busy)
        guard room > 0, !requests.isEmpty else { return }
        requests.sort { a, b in (b.instance.priority, a.instance.id) < (a.instance.priority, b.instance.id) }
        let batch = Array(requests.prefix(room))
        for (request, target) in zip(batch, EvacuationPlacement.place(batch, in: state, planned: planned)) {
            let inst = request.instance
            if let to = target {
                actions.append(.migrate(instance: inst.id, from: inst.host, to: to))
            } else {
                let h = state.hosts[inst.host]!
                let tried = inst.failedTargets.isEmpty ? "" : " (its migrations to \(inst.failedTargets.joined(separator: ", ")) failed)"
                actions.append(
                    .notify(
                        Notice(
                            kind: .drainBlocked, key: "\(inst.id)@drain\(h.drain!.requestedAt)",
                            reason: "no other host of segment \(h.segment) has room for \(inst.id) (\(inst.flavor.summary))\(tried)\(state.policy.drainToReserved ? "" : "; reserved hosts are kept free (drain_to_reserved is off)"): it keeps running on \(inst.host)",
                            host: inst.host, instance: inst.id, segment: h.segment)))
            }
        }
    }

    /// Where a drained host's instances may go: the healthy hosts of its segment that are
    /// not in maintenance; reserved hosts only when the policy allows, and last.
    static func drainTargets(_ name: String, _ state: ClusterState) -> [[String]] {
        var ordinary: [String] = []
        var reserved: [String] = []
        for other in state.hostsBySegment[state.hosts[name]!.segment] ?? [] where other != name {
            let h = state.hosts[other]!
            guard EvacuationPlacement.isEligibleTarget(h) else { continue }
            if h.reserved { reserved.append(other) } else { ordinary.append(other) }
        }
        return ([ordinary] + (state.policy.drainToReserved ? [reserved] : [])).filter { !$0.isEmpty }
    }
}
