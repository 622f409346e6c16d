import Foundation
import LifeboatCore

/// Evacuates a fenced host's servers and tracks every one until it is ACTIVE (or SHUTOFF,
/// where it was stopped) on another host: what `lifeboat nova evacuate` and the
/// `Agents/nova-evacuate` OCF agent run, outside the cluster, for operators who fence by
/// other means (Pacemaker with fence_compute) and want NovaEvacuate that does not fire and
/// forget. Refuses a host whose nova-compute is up and not forced down: its servers may
/// still run there.
public struct HostEvacuation: Sendable {
    public struct Outcome: Sendable {
        public var id: String
        public var name: String
        public var target: String?
        public var status: String
        public var ok: Bool
        public var error: String?
        public var requestID: String?
        public var seconds: Double
    }

    public let nova: NovaClient
    public var host: String
    /// Every server, not only HA-tagged ones.
    public var all = false
    /// A target host (nil: Nova's scheduler chooses).
    public var target: String? = nil
    public var parallel = 10
    public var timeout = 300.0

    public init(nova: NovaClient, host: String) {
        self.nova = nova
        self.host = host
    }

    /// The servers to move, after checking the source is down in Nova.
    public func plan() async throws(OpenStackError) -> [NovaClient.Server] {
        let svc = try await nova.computeService(host: host)
        guard svc.forced_down == true || svc.state == "down" else {
            throw OpenStackError(
                call: "evacuate \(host)", status: 409,
                message: "nova-compute on \(host) is \(svc.state) and not forced down: fence the host and force it down first (its servers may still run there)")
        }
        let servers = try await NovaInventory(nova: nova).read(host: host).servers
        let ha = Set(servers.filter { all ? $0.tag != .off : $0.tag == .on }.map(\.id))
        return try await nova.servers(host: host).filter { ha.contains($0.id) && $0.status != "DELETED" }
    }

    /// Evacuates and tracks; `progress` is called as each server settles.
    public func run(progress: @escaping @Sendable (Outcome) -> Void = { _ in }) async throws(OpenStackError) -> [Outcome] {
        let servers = try await plan()
        var out: [Outcome] = []
        var index = 0
        while index < servers.count {
            let batch = servers[index..<min(servers.count, index + max(1, parallel))]
            index += batch.count
            await withTaskGroup(of: Outcome.self) { group in
                for s in batch { group.addTask { await self.one(s) } }
                for await o in group {
                    progress(o)
                    out.append(o)
                }
            }
        }
        return out
    }

    func one(_ s: NovaClient.Server) async -> Outcome {
        let start = ContinuousClock.now
        let wasStopped = s.status == "SHUTOFF"
        func done(_ ok: Bool, _ status: String, _ target: String?, _ error: String?, _ request: String?) -> Outcome {
            Outcome(
                id: s.id, name: s.name, target: target, status: status, ok: ok, error: error, requestID: request,
                seconds: Double((ContinuousClock.now - start).wholeMilliseconds) / 1000)
        }
        let request: String?
        do throws(OpenStackError) { request = try await nova.evacuate(s.id, to: target) } catch {
            return done(false, s.status, nil, error.description, nil)
        }
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        var last = s
        while ContinuousClock.now < deadline {
            try? await Task.sleep(for: .seconds(1))
            guard let now = try? await nova.server(s.id) else { continue }
            last = now
            if now.status == "ERROR" { return done(false, now.status, now.host, now.fault ?? "ERROR in Nova", request) }
            let settled = (now.status == "ACTIVE" || (wasStopped && now.status == "SHUTOFF")) && now.taskState == nil
            if settled, let h = now.host, h != host { return done(true, now.status, h, nil, request) }
        }
        return done(false, last.status, last.host, "not settled on another host within \(Int(timeout)) s (\(last.status), task \(last.taskState ?? "none"))", request)
    }
}
