import Foundation
import LifeboatCore
import LifeboatSystem
import Synchronization

/// The `fence` executor: tries each fence level of the host in order (Pacemaker's
/// topology) until one powers it off and the off is confirmed, in up to `rounds` rounds
/// with a backoff between them; captures the serial console beside the power-off; and
/// reports every level tried, its outcome, duration and error. Right before each
/// power-off it asks the context whether this node may still act (term, quorum asked of
/// corosync at that moment): if not, it stops and reports `cancelled`.
public final class FenceExecutor: ActionExecutor {
    public let kinds: Set<String> = ["fence"]
    let shared: SharedClusterState
    public let rounds: Int
    public let backoff: Double
    /// Seconds the console capture may take after the result was sent.
    public let consoleWait: Double
    private let agents = Mutex<[Attempt: [any FenceLevel]]>([:])
    let makeLevel: @Sendable (FenceDevice, String) -> any FenceLevel
    let captureConsole: @Sendable (IPMISettings, String) async -> ConsoleCapture

    /// - Parameters:
    ///   - makeLevel: the device behind a level (tests pass in-memory ones).
    ///   - captureConsole: reads a host's serial console through its BMC (tests pass their own).
    public init(
        shared: SharedClusterState, rounds: Int = 2, backoff: Double = 1, consoleWait: Double = 6,
        makeLevel: @escaping @Sendable (FenceDevice, String) -> any FenceLevel = FenceExecutor.realLevel,
        captureConsole: @escaping @Sendable (IPMISettings, String) async -> ConsoleCapture = { await SerialConsole.capture($0, host: $1) }
    ) {
        self.shared = shared
        self.makeLevel = makeLevel
        self.captureConsole = captureConsole
        self.rounds = max(1, rounds)
        self.backoff = backoff
        self.consoleWait = consoleWait
    }

    public static func realLevel(_ level: FenceDevice, host: String) -> any FenceLevel {
        switch level.kind {
        case .ipmi(let s): IPMIDevice(s, host: host, timeout: level.timeout)
        case .agent(let a): FenceAgent(a, host: host, timeout: level.timeout)
        }
    }

    /// What fencing `host` takes: its topology and the delay before it (`fencing.delay`,
    /// plus `priority_fencing_delay` when the host runs more HA instances than this node).
    public static func plan(for host: String, in state: ClusterState, localNode: UInt32?) -> (FenceTopology, Double)? {
        guard let h = state.hosts[host] else { return nil }
        var delay = h.fencing.delay
        if state.policy.priorityFencingDelay > 0, let me = localNode.flatMap({ state.hostName(nodeID: $0) }) {
            func ha(_ name: String) -> Int { state.instances(on: name).filter { $0.ha && $0.state == .active }.count }
            if ha(host) > ha(me) { delay += state.policy.priorityFencingDelay }
        }
        return (h.fencing, delay)
    }

    public func abort(_ attempt: Attempt) {
        for a in agents.withLock({ $0[attempt] ?? [] }) { a.abort() }
    }

    public func execute(_ action: Action, context: ExecutionContext) async -> ActionReport {
        guard case .fence(let host) = action else { return ActionReport(.failed, message: "not a fence action") }
        let start = ContinuousClock.now
        guard let state = shared.state, let (topology, delay) = Self.plan(for: host, in: state, localNode: shared.node) else {
            return ActionReport(.failed, message: "host \(host) is not in the configuration")
        }
        guard !topology.levels.isEmpty else {
            return ActionReport(
                .failed, message: "no fence device is configured for \(host) (hosts[].fencing.levels): it cannot be powered off")
        }
        var attributes: [String: String] = [:]
        if delay > 0 {
            attributes["delay_ms"] = String(Int(delay * 1000))
            try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
        }
        if let why = context.whyNotLeading() { return cancelled(why, start, [], attributes) }
        // The console is captured beside the power-off; it never holds the power-off back.
        var capture: Task<ConsoleCapture, Never>? = nil
        for level in topology.levels {
            if case .ipmi(let s) = level.kind, s.console, consoleWait > 0 {
                let captureConsole = captureConsole
                capture = Task.detached { await captureConsole(s, host) }
                break
            }
        }
        defer { agents.withLock { $0[context.attempt] = nil } }
        var steps: [StepReport] = []
        var offBy: (Int, FenceDevice)? = nil
        rounds: for round in 0..<rounds {
            for (n, level) in topology.levels.enumerated() {
                if let why = context.whyNotLeading() { return cancelled(why, start, steps, attributes) }
                let step = await run(level, number: n + 1, host: host, context: context)
                steps.append(step)
                if step.outcome == .off {
                    offBy = (n + 1, level)
                    break rounds
                }
                if step.outcome == .cancelled { return cancelled(step.error ?? "cancelled", start, steps, attributes) }
            }
            if round + 1 < rounds {
                try? await Task.sleep(for: .milliseconds(Int(backoff * 1000 * Double(1 << round))))
            }
        }
        var report: ActionReport
        if let (n, level) = offBy {
            attributes["level"] = String(n)
            attributes["device"] = level.name
            report = ActionReport(.off, message: "\(host) is off (level \(n): \(level.name))", steps: steps, attributes: attributes)
        } else {
            let outcome: Outcome = steps.allSatisfy { $0.outcome == .timeout } ? .timeout : .failed
            let last = steps.last?.error ?? "no level ran"
            report = ActionReport(
                outcome, message: "every fence level failed for \(host) (\(steps.count) tries); last: \(last)", steps: steps,
                attributes: attributes)
        }
        report.durationMS = milliseconds(since: start)
        // The result goes now; the console follows as its own event when the capture ends,
        // and not before this node has applied the result: the cluster records a console
        // only for a finished attempt, and a quick BMC's capture can end before the result
        // has come back through the group.
        if let capture {
            let attempt = context.attempt
            let shared = shared
            let wait = consoleWait
            Task.detached {
                let console = await Self.waitFor(capture, wait)
                await Self.waitUntilApplied(attempt, in: shared, within: wait + 10)
                await shared.post(.consoleCaptured(attempt: attempt, console: console))
            }
        } else if consoleWait > 0 {
            report.console = .unavailable("no IPMI level of \(host) has its serial console enabled")
        }
        return report
    }

    func cancelled(_ why: String, _ start: ContinuousClock.Instant, _ steps: [StepReport], _ attributes: [String: String]) -> ActionReport {
        ActionReport(.cancelled, message: "stopped before powering off: \(why)", durationMS: milliseconds(since: start), steps: steps, attributes: attributes)
    }

    /// The console capture, if it ends within `wait` seconds.
    static func waitFor(_ capture: Task<ConsoleCapture, Never>, _ wait: Double) async -> ConsoleCapture {
        await value(of: capture, within: wait)
            ?? .unavailable("the serial console capture did not finish within \(wait) s of the power-off")
    }

    /// Waits (bounded) until this node has applied the finished record of `attempt`. If it
    /// never comes (the result was refused, this node left the group), the console is posted
    /// anyway and the history keeps why it was not recorded.
    static func waitUntilApplied(_ attempt: Attempt, in shared: SharedClusterState, within seconds: Double) async {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while !shared.hasFinished(attempt), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// One level: power off, then confirm off.
    func run(_ level: FenceDevice, number: Int, host: String, context: ExecutionContext) async -> StepReport {
        let start = ContinuousClock.now
        let runner = makeLevel(level, host)
        agents.withLock { $0[context.attempt, default: []].append(runner) }
        let (outcome, error) = await runner.powerOff(check: { context.whyNotLeading() })
        return StepReport(name: "level \(number): \(runner.name)", outcome: outcome, durationMS: milliseconds(since: start), error: error)
    }
}

/// One fence level as the executor drives it: power off and confirm. The real ones are
/// `IPMIDevice` and `FenceAgent`; tests use an in-memory one.
public protocol FenceLevel: Sendable {
    var name: String { get }
    /// `.off` only once off is confirmed; `.cancelled` when `check` said no right before
    /// the power-off; otherwise `.failed` or `.timeout` with the error.
    func powerOff(check: @escaping @Sendable () -> String?) async -> (Outcome, String?)
    func abort()
}

extension FenceLevel {
    public func abort() {}
}

extension IPMIDevice: FenceLevel {
    public var name: String { "ipmi \(settings.address):\(settings.port)" }

    public func powerOff(check: @escaping @Sendable () -> String?) async -> (Outcome, String?) {
        let r: OffResult = await powerOff(check: check)
        return (r.outcome, r.wasOff ? "already off" : r.error)
    }
}

extension FenceAgent: FenceLevel {
    public var name: String { "agent \(settings.agent)" }

    public func powerOff(check: @escaping @Sendable () -> String?) async -> (Outcome, String?) {
        let start = ContinuousClock.now
        if let why = check() { return (.cancelled, why) }
        let off = await run("off")
        if off.aborted { return (.cancelled, "aborted") }
        guard off.exitCode == 0 else { return (off.timedOut ? .timeout : .failed, off.error) }
        guard settings.confirmStatus else { return (.off, nil) }
        let left = max(1, timeout - Double(milliseconds(since: start)) / 1000)
        let status = await run("status", within: left)
        switch status.exitCode {
        case 2?: return (.off, nil)
        case 0?: return (.failed, "\(settings.agent) said off, but its status says \(host) is on")
        default:
            return (
                status.timedOut ? .timeout : .failed,
                "\(settings.agent) said off, but off could not be confirmed: \(status.error ?? "status exit \(status.exitCode.map(String.init) ?? "?")")"
            )
        }
    }
}
