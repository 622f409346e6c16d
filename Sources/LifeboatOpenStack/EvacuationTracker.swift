import Foundation
import LifeboatCore

/// Follows servers on their way off a failed host. Waiters register (server, source,
/// target); one loop per source host asks Nova every interval which evacuations from that
/// host ended, and reads only those servers.
///
/// Why migration records and not server listings: a listing of a host's servers with their
/// details costs nova-api about 5 ms per server (measured in the lab: 270 ms for 50
/// servers), and the evacuations' own requests wait behind it on the same nova-api. The
/// migration records of one source host (`GET /os-migrations?source_compute=…`) cost it
/// about 13 ms whatever their number. Nova ends each evacuation's record `done` once the
/// server is rebuilt on its target (after it saved the server ACTIVE with no task),
/// `failed` when the target's claim or rebuild failed, and `error` when its conductor or
/// scheduler did (no valid host: the server is left on the source).
///
/// Every `listEvery`-th round, and in every round where the migration records cannot be
/// read, the servers are read the older way as well, by listing the targets and the
/// source: an end that a migration record missed is still seen.
actor EvacuationTracker {
    struct Waiter {
        var id: String
        var to: String
        var continuation: CheckedContinuation<NovaClient.Server?, Never>
        var deadline: ContinuousClock.Instant
    }

    /// Every this many rounds the targets and the source are also listed (10: every 5 s at
    /// the default interval).
    let listEvery: Int
    /// Migration records updated since this long before a loop started are read (margin
    /// for a clock of Nova's that differs from ours).
    static let clockMargin: TimeInterval = 600

    init(listEvery: Int = 10) { self.listEvery = listEvery }

    /// Waiters by source host.
    var waiters: [String: [Waiter]] = [:]
    var loops: Set<String> = []

    func wait(for id: String, from: String, on host: String, nova: NovaClient, timeout: Double, interval: Double) async -> NovaClient.Server? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { c in
                waiters[from, default: []].append(
                    Waiter(id: id, to: host, continuation: c, deadline: .now + .milliseconds(Int(timeout * 1000))))
                if loops.insert(from).inserted {
                    Task { await self.loop(from, nova, interval) }
                }
            }
        } onCancel: {
            Task { await self.cancel(id, from) }
        }
    }

    /// A cancelled executor stops waiting at once.
    func cancel(_ id: String, _ source: String) {
        guard var ws = waiters[source], let n = ws.firstIndex(where: { $0.id == id }) else { return }
        ws.remove(at: n).continuation.resume(returning: nil)
        waiters[source] = ws
    }

    /// Whether a server read during the wait ends it: settled (or in ERROR) on its target,
    /// or back to no task off its target (ERROR, or the evacuation's record ended
    /// without a move: Nova gave up and left it where it was).
    static func ends(_ s: NovaClient.Server, target: String, recordEnded: Bool) -> Bool {
        if s.host == target { return s.status == "ERROR" || NovaExecutor.settled(s) }
        return s.taskState == nil && (s.status == "ERROR" || recordEnded)
    }

    static let endedStatuses: Set<String> = ["done", "completed", "failed", "error"]

    func loop(_ source: String, _ nova: NovaClient, _ interval: Double) async {
        let since = Date().addingTimeInterval(-Self.clockMargin)
        var round = 0
        while !(waiters[source] ?? []).isEmpty {
            try? await Task.sleep(for: .milliseconds(Int(interval * 1000)))
            round += 1
            let ids = Set((waiters[source] ?? []).map(\.id))
            var read: [String: NovaClient.Server] = [:]
            var recordEnded: Set<String> = []
            var listing = round % listEvery == 0
            do {
                let records = try await nova.migrations(from: source, type: "evacuation", changedSince: since)
                // The newest record of each waiting server: an older one is an earlier move.
                var newest: [String: NovaClient.Migration] = [:]
                for m in records where ids.contains(m.instance_uuid) && (newest[m.instance_uuid]?.id ?? -1) < m.id {
                    newest[m.instance_uuid] = m
                }
                for (id, m) in newest where Self.endedStatuses.contains(m.status) {
                    recordEnded.insert(id)
                    if let s = try? await nova.server(id) { read[id] = s }
                }
            } catch {
                listing = true
            }
            if listing {
                for target in Set((waiters[source] ?? []).map(\.to)) {
                    for s in (try? await nova.servers(host: target)) ?? [] where ids.contains(s.id) { read[s.id] = s }
                }
                for s in (try? await nova.servers(host: source)) ?? [] where ids.contains(s.id) && read[s.id] == nil {
                    read[s.id] = s
                }
            }
            let now = ContinuousClock.now
            var left: [Waiter] = []
            for w in waiters[source] ?? [] {
                if let s = read[w.id], Self.ends(s, target: w.to, recordEnded: recordEnded.contains(w.id)) {
                    w.continuation.resume(returning: s)
                } else if now >= w.deadline {
                    w.continuation.resume(returning: nil)
                } else {
                    left.append(w)
                }
            }
            waiters[source] = left
        }
        loops.remove(source)
    }
}
