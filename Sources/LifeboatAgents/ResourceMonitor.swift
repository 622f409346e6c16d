import Foundation
import LifeboatCore
import LifeboatSystem

/// Runs each resource's `monitor` on this host at its interval and tells the cluster what
/// it sees, as events the leader acts on:
/// - a soft failure (not running, generic error, timeout) → `process_failed` (the leader
///   restarts it here, or escalates past the limit);
/// - a hard error (bad parameters, not installed, not configured) → `resource_blocked`;
/// - running again after a failure that nobody restarted → `process_recovered`;
/// - not running at the first probe (never started) → `resource_restart` (started, not
///   counted as a failure).
/// It says nothing while the host is in maintenance (unmanaged, like Pacemaker's), being
/// recovered, or while a restart of that resource is in flight.
public actor ResourceMonitor {
    /// What one resource's loop last saw.
    public struct Observation: Sendable {
        public var at: Double
        public var rc: Int32?
        public var summary: String
        public var durationMS: Int
    }

    let ocfRoot: String
    let shared: SharedClusterState
    let metadata: MetadataCache
    let host: @Sendable () -> String?
    let submit: @Sendable (Event) async -> String?
    var loops: [String: (spec: Resource, task: Task<Void, Never>)] = [:]
    public private(set) var observations: [String: Observation] = [:]

    public init(
        ocfRoot: String, shared: SharedClusterState, metadata: MetadataCache, host: @escaping @Sendable () -> String?,
        submit: @escaping @Sendable (Event) async -> String?
    ) {
        self.ocfRoot = ocfRoot
        self.shared = shared
        self.metadata = metadata
        self.host = host
        self.submit = submit
    }

    /// Starts and stops loops to match the configuration (called after every input; cheap).
    public func reconcile() {
        guard let state = shared.state, let me = host() else { return }
        let wanted = Dictionary(uniqueKeysWithValues: state.resources(on: me).map { ($0.name, $0) })
        for (name, loop) in loops where wanted[name] != loop.spec {
            loop.task.cancel()
            loops[name] = nil
            observations[name] = nil
        }
        for (name, spec) in wanted where loops[name] == nil {
            let task = Task<Void, Never> { [weak self] in _ = await self?.loop(spec, host: me) }
            loops[name] = (spec, task)
        }
    }

    public func stop() {
        for (_, l) in loops { l.task.cancel() }
        loops = [:]
    }

    func observed(_ name: String, _ o: Observation) { observations[name] = o }

    nonisolated func loop(_ spec: Resource, host me: String) async {
        let restartKey = Action.restartProcess(host: me, process: spec.name).key
        var probed = false
        while !Task.isCancelled {
            if probed { try? await Task.sleep(for: .milliseconds(Int(spec.monitorInterval * 1000))) }
            guard !Task.isCancelled, let state = shared.state, let h = state.hosts[me], h.member, state.quorate else {
                try? await Task.sleep(for: .milliseconds(500))
                continue
            }
            let health = h.processes[spec.name]
            if h.maintenance || h.recovery != nil || h.fence != .none || health?.blocked != nil
                || state.inFlight[restartKey] != nil
            {
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            let agent: OCFAgent
            let meta: OCFMetadata
            do throws(OCFError) { (agent, meta) = try await metadata.prepare(spec, root: ocfRoot) } catch {
                Log.error("\(spec.name) on \(me): \(error)")
                _ = await submit(.resourceBlocked(host: me, process: spec.name, reason: "\(error)"))
                probed = true
                continue
            }
            let r = await agent.run(
                "monitor", instance: spec.name, params: spec.parameters(on: me), timeout: ResourceExecutor.timeout("monitor", spec, meta),
                interval: probed ? spec.monitorInterval : 0)
            await observed(spec.name, Observation(at: Date().timeIntervalSince1970, rc: r.exitCode, summary: r.summary, durationMS: r.durationMS))
            let first = !probed
            // The state may have moved on while the monitor ran.
            guard let now = shared.state, now.inFlight[restartKey] == nil,
                now.hosts[me]?.processes[spec.name]?.blocked == nil
            else { continue }
            let failedInState = now.hosts[me]?.processes[spec.name]?.failed == true
            var event: Event? = nil
            if first, r.code == .notRunning {
                // A probe: never started here (or stopped while lifeboatd was down).
                event = failedInState ? nil : .resourceRestart(host: me, process: spec.name)
            } else {
                switch r.severity {
                case .none: if failedInState { event = .processRecovered(host: me, process: spec.name) }
                case .soft: if !failedInState { event = .processFailed(host: me, process: spec.name) }
                case .hard, .fatal: event = .resourceBlocked(host: me, process: spec.name, reason: r.summary)
                }
            }
            guard let event else {
                probed = true
                continue
            }
            if let why = await submit(event) {
                Log.warning("\(spec.name): \(event.kind) not recorded (tried again at the next monitor): \(why)")
                probed = !first  // a probe whose start was not recorded stays a probe
            } else {
                probed = true
                switch event {
                case .processFailed: Log.warning("\(spec.name) failed on \(me): \(r.summary)")
                case .resourceBlocked: Log.error("\(spec.name) blocked on \(me): \(r.summary)")
                case .resourceRestart: Log.info("\(spec.name) is not running on \(me): asked the leader to start it")
                default: Log.info("\(spec.name) runs again on \(me)")
                }
            }
        }
    }
}
