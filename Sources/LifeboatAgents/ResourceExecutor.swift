import LifeboatCore
import LifeboatSystem
import Synchronization

/// Carries out `restart_process` on the host it concerns (the daemon runs it only there):
/// the resource agent's `stop`, then `start`, as Pacemaker restarts a failed primitive.
/// A hard error (bad parameters, agent not installed, not configured) blocks the resource
/// instead of feeding a restart loop: it is posted as `resource_blocked` before the result.
public final class ResourceExecutor: ActionExecutor {
    public let kinds: Set<String> = ["restart_process"]
    let ocfRoot: String
    let shared: SharedClusterState
    let host: @Sendable () -> String?
    let metadata: MetadataCache
    private let runners = Mutex<[Attempt: ProcessRunner]>([:])

    /// - Parameter host: this host's name in the configuration (nil while unknown).
    public init(ocfRoot: String, shared: SharedClusterState, metadata: MetadataCache, host: @escaping @Sendable () -> String?) {
        self.ocfRoot = ocfRoot
        self.shared = shared
        self.metadata = metadata
        self.host = host
    }

    public func abort(_ attempt: Attempt) {
        runners.withLock { $0[attempt] }?.abort()
    }

    public func execute(_ action: Action, context: ExecutionContext) async -> ActionReport {
        guard case .restartProcess(let h, let name) = action else { return ActionReport(.failed, message: "not a restart") }
        guard h == host() else { return ActionReport(.failed, message: "restart of \(name) on \(h) reached another host") }
        guard let spec = shared.state?.resource(name, on: h) else {
            return ActionReport(.failed, message: "no resource '\(name)' is configured on \(h): nothing to restart it with")
        }
        let start = ContinuousClock.now
        let agent: OCFAgent
        let meta: OCFMetadata
        do throws(OCFError) { (agent, meta) = try await metadata.prepare(spec, root: ocfRoot) } catch {
            await shared.post(.resourceBlocked(host: h, process: name, reason: "\(error)"))
            return ActionReport(.failed, message: "\(name): \(error)", durationMS: milliseconds(since: start))
        }
        let runner = ProcessRunner()
        runners.withLock { $0[context.attempt] = runner }
        defer { _ = runners.withLock { $0.removeValue(forKey: context.attempt) } }
        var steps: [StepReport] = []
        var attributes = ["agent": spec.agent]
        for op in ["stop", "start"] {
            if let why = context.whyNotLeading() { return ActionReport(.cancelled, message: why, steps: steps) }
            let timeout = Self.timeout(op, spec, meta)
            let r = await withTaskCancellationHandler {
                await agent.run(op, instance: name, params: spec.parameters(on: h), timeout: timeout, runner: runner)
            } onCancel: { runner.abort() }
            let ok = r.severity == .none
            steps.append(StepReport(name: "\(op) (\(spec.agent))", outcome: ok ? .ok : (r.timedOut ? .timeout : .failed), durationMS: r.durationMS, error: ok ? nil : r.summary))
            attributes["\(op)_rc"] = r.exitCode.map(String.init) ?? (r.timedOut ? "timeout" : "signal")
            if let out = OCFAgent.lastLine(r.stderr) ?? OCFAgent.lastLine(r.stdout) { attributes["\(op)_output"] = out }
            if r.aborted { return ActionReport(.cancelled, message: "\(name): \(r.summary)", steps: steps, attributes: attributes) }
            if r.severity == .hard || r.severity == .fatal {
                await shared.post(.resourceBlocked(host: h, process: name, reason: r.summary))
            }
            if !ok {
                return ActionReport(
                    r.timedOut ? .timeout : .failed, message: "\(name) on \(h): \(r.summary)", durationMS: milliseconds(since: start),
                    steps: steps, attributes: attributes)
            }
        }
        return ActionReport(
            .ok, message: "\(name) restarted on \(h) (stop \(steps[0].durationMS) ms, start \(steps[1].durationMS) ms)",
            durationMS: milliseconds(since: start), steps: steps, attributes: attributes)
    }

    /// The configuration's timeout, else the agent's meta-data, else Pacemaker's 20 s.
    static func timeout(_ op: String, _ spec: Resource, _ meta: OCFMetadata?) -> Double {
        let configured = op == "start" ? spec.startTimeout : op == "stop" ? spec.stopTimeout : spec.monitorTimeout
        return configured ?? meta?.timeouts[op] ?? OCFAgent.defaultTimeout
    }
}

/// Agents' meta-data, read once per agent path (it does not change while the daemon runs;
/// a failure is not cached, so a fixed installation is seen on the next try).
public final class MetadataCache: Sendable {
    private let cache = Mutex<[String: OCFMetadata]>([:])
    public init() {}

    public func get(_ agent: OCFAgent) async throws(OCFError) -> OCFMetadata {
        if let m = cache.withLock({ $0[agent.path] }) { return m }
        let m = try await agent.metadata()
        cache.withLock { $0[agent.path] = m }
        return m
    }

    /// A resource's agent found under `root`, its meta-data, and the configured parameters
    /// checked against it: what both the monitor and the restart need before they run it.
    public func prepare(_ spec: Resource, root: String) async throws(OCFError) -> (OCFAgent, OCFMetadata) {
        let agent = try OCFAgent(spec.agent, root: root)
        let meta = try await get(agent)
        if let why = meta.check(spec.params) { throw .badParameters(why) }
        return (agent, meta)
    }
}
