/// Replays a scenario through the real decision core (`ClusterState.apply` and
/// `Scheduler.plan`, the code `lifeboatd` runs) with simulated executors, and records what
/// the leader does. The trace is the output of `lifeboat simulate`.
public struct Simulator {
    public enum Line: Hashable, Sendable {
        /// The leader started an action.
        case action(at: Double, Action)
        /// An executor reported a result, which the leader recorded.
        case result(at: Double, Action, Outcome)
        /// A result of an attempt that was no longer in flight (its leader changed before
        /// it came back): recorded as stale, nothing changed.
        case stale(at: Double, Action, Outcome)
        /// An input event the core refused (the state is unchanged).
        case rejected(at: Double, kind: String, reason: String)
    }

    public struct Result: Sendable {
        public var lines: [Line]
        public var final: ClusterState
        /// Safety violations seen while replaying (empty when every invariant held).
        public var violations: [String]
        /// Every incident opened during the replay, as it ended (or stands), by id.
        public var incidents: [Incident] = []
        /// What was linked to each incident, in order: event kinds, `action_started KEY`,
        /// `action_finished KEY`.
        public var linked: [Int: [String]] = [:]
        /// Every event the replay applied or refused, in order, as a node's history has it.
        public var log: [Logged] = []
    }

    /// One event of the replay: when, what, and what `apply` said.
    public struct Logged: Sendable {
        public var at: Double
        public var event: Event
        /// Nil when applied; else why not (and whether as a stale result).
        public var rejected: String?
        public var stale: Bool
        public var epoch: UInt64
        public var applied: Applied
    }

    /// Bounds planning rounds at one instant: a core that keeps planning at one time has
    /// a bug, and the simulator stops with a violation instead of hanging.
    public static let maxRoundsPerInstant = 10_000

    public static func run(_ scenario: Scenario) -> Result {
        var sim = Simulator(scenario: scenario)
        sim.run()
        return Result(
            lines: sim.lines, final: sim.state, violations: sim.monitor.violations,
            incidents: sim.incidents.keys.sorted().map { sim.incidents[$0]! }, linked: sim.linked, log: sim.log)
    }

    let scenario: Scenario
    var state: ClusterState
    var lines: [Line] = []
    var monitor: InvariantMonitor
    /// Actions in flight with a duration: result due times, in start order.
    var pending: [(due: Double, record: ActionRecord)] = []
    var attempts: [String: Int] = [:]
    /// Hosts where a `restart_process` succeeded (`refused_until_restart` ends there).
    var restartedHosts: Set<String> = []
    var incidents: [Int: Incident] = [:]
    var linked: [Int: [String]] = [:]
    var log: [Logged] = []

    init(scenario: Scenario) {
        self.scenario = scenario
        self.state = scenario.initialState
        self.monitor = InvariantMonitor(state)
    }

    mutating func run() {
        var next = 0
        let events = scenario.events
        while next < events.count || !pending.isEmpty {
            let eventTime = next < events.count ? events[next].at : Double.infinity
            let resultTime = pending.map(\.due).min() ?? Double.infinity
            let now = min(eventTime, resultTime)
            // Results due now first, in the order their actions started.
            let due = pending.filter { $0.due <= now }
            pending.removeAll { $0.due <= now }
            for p in due { finish(p.record, at: now) }
            // Then every input event at this time, together (one configuration change).
            while next < events.count, events[next].at == now {
                let e = events[next]
                next += 1
                do {
                    note(try state.apply(e.event, at: now), e.event)
                    monitor.applied(e.event, state)
                    // An old leader's executors still finish: their results come back stale.
                } catch {
                    lines.append(.rejected(at: now, kind: e.event.kind, reason: error.reason))
                    log.append(Logged(at: now, event: e.event, rejected: error.reason, stale: false, epoch: state.epoch, applied: Applied()))
                }
            }
            planAndExecute(at: now)
        }
        monitor.finished(state)
    }

    mutating func planAndExecute(at now: Double) {
        for _ in 0..<Self.maxRoundsPerInstant {
            let actions = Scheduler.plan(state)
            if actions.isEmpty { return }
            var immediate: [ActionRecord] = []
            for a in actions {
                monitor.willStart(a, state)
                let start = Event.actionStarted(a, term: state.term)
                do {
                    note(try state.apply(start, at: now), start)
                } catch {
                    monitor.violation("the scheduler planned \(a.key), which apply refused: \(error.reason)")
                    continue
                }
                monitor.applied(start, state)
                lines.append(.action(at: now, a))
                if case .notify = a { continue }
                let record = state.inFlight[a.key]!
                let d = scenario.durations[a.kind] ?? 0
                if d > 0 { pending.append((now + d, record)) } else { immediate.append(record) }
            }
            for r in immediate { finish(r, at: now) }
        }
        monitor.violation("planning did not settle at t=\(now) after \(Self.maxRoundsPerInstant) rounds")
    }

    mutating func note(_ applied: Applied, _ event: Event) {
        log.append(Logged(at: state.now, event: event, rejected: nil, stale: false, epoch: state.epoch, applied: applied))
        for inc in applied.incidents { incidents[inc.id] = inc }
        guard let id = applied.incident else { return }
        switch event {
        case .actionStarted(let a, _): linked[id, default: []].append("action_started \(a.key)")
        case .actionFinished(let key, _, _): linked[id, default: []].append("action_finished \(key)")
        default: linked[id, default: []].append(event.kind)
        }
    }

    mutating func finish(_ record: ActionRecord, at now: Double) {
        let action = record.action
        let n = attempts[action.key, default: 0] + 1
        attempts[action.key] = n
        let success: Outcome = if case .fence = action { .off } else { .ok }
        var report = ActionReport(success)
        switch scenario.faults.mode(for: action) {
        case nil: break
        case .fail: report.outcome = .failed
        case .timeout: report.outcome = .timeout
        case .failOnce: if n == 1 { report.outcome = .failed }
        case .refusedUntilRestart:
            if let h = action.host, !restartedHosts.contains(h) {
                report.outcome = .failed
                report.attributes["refused_for"] = ClusterState.doneEvacuationRecords
            }
        }
        let outcome = report.outcome
        if case .restartProcess(let h, _) = action, outcome.succeeded { restartedHosts.insert(h) }
        let result = Event.actionFinished(key: action.key, attempt: record.attempt, report: report)
        do {
            note(try state.apply(result, at: now), result)
            monitor.applied(result, state)
            lines.append(.result(at: now, action, outcome))
        } catch where error.stale {
            lines.append(.stale(at: now, action, outcome))
            log.append(Logged(at: now, event: result, rejected: error.reason, stale: true, epoch: state.epoch, applied: Applied()))
        } catch {
            monitor.violation("the result of \(action.key) attempt \(record.attempt) was refused: \(error.reason)")
        }
    }
}
