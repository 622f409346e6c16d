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
                abandonEvacuation(
                    i, from: from, to: to, key: "\(i)@leader#\(hosts[from]!.failureCount)",
                    reason: "the leader changed while \(i) was being evacuated from \(from) to \(to), and \(from) is running again: check where \(i) runs in Nova")
            }
        case .actionStarted(let a): started(a)
        case .actionFinished(let key, let outcome):
            let a = inFlight.removeValue(forKey: key)!
            finished(a, outcome)
        }
    }
}
