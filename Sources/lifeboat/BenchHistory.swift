import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatHistory
import LifeboatReplication

/// `lifeboat bench history`: the durable history at scale. Builds a year of a cluster's
/// history through the real core (crashes with their fences, Nova steps, evacuations and
/// re-admissions, VM restarts, operators' changes), writes it as lifeboatd does (a sync
/// after every small batch, the replica's window of 10,000 entries), then times the queries
/// operators make, and prints JSON numbers.
extension Bench {
    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write N history records as lifeboatd does, then time queries (--since 30d, by instance, host, incident; the report).")

        @Option(help: "Records to write.") var records = 1_000_000
        @Option(help: "History file to create (default: a temporary one, removed after).") var database: String?
        @Option(help: "Entries applied between two syncs (one input batch of lifeboatd).") var batch = 4
        @Option(help: "Timed runs of each query.") var runs = 20
        @Flag(help: "Only open an existing --database and run the queries (RSS of a process holding it).") var queryOnly = false

        func run() throws {
            let path = database ?? FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-bench-\(getpid()).sqlite").path
            defer { if database == nil { for s in ["", "-wal", "-shm"] { unlink(path + s) } } }
            var out: [(String, JSONValue)] = [("benchmark", .string("history"))]
            var last = 0.0
            if !queryOnly {
                guard !FileManager.default.fileExists(atPath: path) else { throw fail("\(path) exists", code: 2) }
                let (written, seconds, syncs, syncP99, newest, dbSeconds) = try write(path)
                last = newest
                out += [
                    ("records", .int(written)), ("build_and_write_s", .number(round3(seconds))),
                    ("db_write_us_per_record", .number(round3(dbSeconds / Double(written) * 1e6))), ("syncs", .int(syncs)),
                    ("sync_p99_ms", .number(round3(syncP99))),
                ]
            }
            let db = try HistoryDatabase(path: path)
            let summary = try db.summary()
            if queryOnly { last = summary.newestAt ?? 0 }
            out += [("entries", .int(summary.entries)), ("incidents", .int(summary.incidents))]
            if let size = try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int {
                out.append(("file_mb", .number(round3(Double(size) / 1_048_576))))
            }
            let since = last - 30 * 86400
            var someInstance = "vm-1"
            var someIncident = 1
            if let inc = try db.incidents({ var f = HistoryFilter(); f.since = since; f.limit = 1; return f }()).incidents.last {
                someInstance = inc.instances.first ?? someInstance
                someIncident = inc.id
            }
            func time(_ name: String, _ body: () throws -> Void) rethrows -> (String, JSONValue) {
                var samples: [Double] = []
                for _ in 0..<runs {
                    let t = ContinuousClock.now
                    try body()
                    samples.append(ms(ContinuousClock.now - t))
                }
                samples.sort()
                return (name, .object([("p50_ms", .number(round3(samples[samples.count / 2]))), ("max_ms", .number(round3(samples.last!)))]))
            }
            var queries: [(String, JSONValue)] = []
            queries.append(try time("since_30d_newest_50") {
                var f = HistoryFilter()
                f.since = since
                f.limit = 50
                _ = try db.records(f)
            })
            queries.append(try time("since_30d_instance") {
                var f = HistoryFilter()
                f.since = since
                f.instance = someInstance
                f.limit = 1000
                _ = try db.records(f)
            })
            queries.append(try time("since_30d_host_fence_evacuate") {
                var f = HistoryFilter()
                f.since = since
                f.host = "host-3"
                f.kinds = ["fence", "evacuate"]
                f.limit = 1000
                _ = try db.records(f)
            })
            queries.append(try time("incident_show") { _ = try HistoryService.incident(db, id: someIncident) })
            let shownRecords = try db.records({ var f = HistoryFilter(); f.incident = someIncident; f.limit = 0; return f }()).matched
            queries.append(try time("incidents_since_30d") {
                var f = HistoryFilter()
                f.since = since
                _ = try db.incidents(f)
            })
            queries.append(try time("report_30d") { _ = try db.report(since: since, until: last, segment: nil, protectedInstances: 400) })
            out.append(("queries", .object(queries)))
            out.append(("incident_show_records", .int(shownRecords)))
            out.append(("rss_mb", .number(round3(Double(Self.rssKB()) / 1024))))
            print(JSONWriter.write(.object(out), timeKeys: []))
        }

        func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }
        func round3(_ v: Double) -> Double { (v * 1000).rounded() / 1000 }

        static func rssKB() -> Int {
            guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
            for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
                return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
            }
            return 0
        }

        /// A year of history through the real core, synced as lifeboatd does.
        func write(_ path: String) throws -> (Int, Double, Int, Double, Double, Double) {
            let generator = ClusterGenerator(hosts: 40, instances: 400, hostsPerSegment: 10)
            var state = generator.makeScenario(seed: 11).initialState
            try state.apply(.leaderChanged(holder: TermHolder(node: 1, incarnation: 1)), at: 0)
            let db = try HistoryDatabase(path: path)
            let context = RecordContext.of(state)
            let start = Date().timeIntervalSince1970 - 365 * 86400
            let step = 365.0 * 86400 / Double(records)
            var window: [HistoryEntry] = []
            var pruned = 0
            var written = 0
            var syncs = 0
            var syncTimes: [Double] = []
            var rng = SplitMix64(seed: 5)
            var t = start
            var pending = 0
            let clock = ContinuousClock.now
            func record(_ e: Event) throws {
                t += step
                var applied = Applied()
                var result = HistoryEntry.Result.applied
                do { applied = try state.apply(e, at: t) } catch { result = .rejected(error.reason) }
                if case .clock = e { return }
                window.append(HistoryEntry(epoch: state.epoch, at: t, origin: 1, event: HistoryEntry.summary(e), result: result, applied: applied))
                written += 1
                pending += 1
                if window.count > 11_000 {
                    let cut = window.count - 10_000
                    window.removeFirst(cut)
                    pruned += cut
                }
                if pending >= batch {
                    let s = ContinuousClock.now
                    try db.sync(window: window, firstSeq: pruned, context: context, reconcile: false, now: t)
                    syncTimes.append(ms(ContinuousClock.now - s))
                    syncs += 1
                    pending = 0
                }
            }
            func lead() throws {
                for _ in 0..<50 {
                    let plan = Scheduler.plan(state)
                    if plan.isEmpty { return }
                    for a in plan {
                        try record(.actionStarted(a, term: state.term))
                        guard let r = state.inFlight[a.key] else { continue }
                        let outcome: Outcome = if case .fence = a { .off } else { .ok }
                        try record(.actionFinished(key: a.key, attempt: r.attempt, report: ActionReport(outcome, durationMS: 150, attributes: ["target": "x", "request_id": "req-\(written)"])))
                    }
                }
            }
            let hosts = state.hostOrder
            while written < records {
                let h = hosts[Int.random(in: 0..<hosts.count, using: &rng)]
                switch Int.random(in: 0..<10, using: &rng) {
                case 0, 1:
                    guard state.hosts[h]!.recovery == nil, state.hosts[h]!.member else { continue }
                    try record(.nodeLost(host: h))
                    try lead()
                    try record(.nodeJoined(host: h))
                    try lead()
                case 2, 3:
                    let ids = state.instances(on: h).filter(\.ha)
                    guard let i = ids.first else { continue }
                    try record(.instanceFailed(instance: i.id))
                    try lead()
                case 4:
                    try record(.processFailed(host: h, process: "nova-compute"))
                    try lead()
                default:
                    try record(.reserved(host: h, on: !state.hosts[h]!.reserved))
                }
            }
            try db.sync(window: window, firstSeq: pruned, context: context, reconcile: false, now: t)
            let dbSeconds = syncTimes.reduce(0, +) / 1000
            syncTimes.sort()
            return (written, ms(ContinuousClock.now - clock) / 1000, syncs, syncTimes[min(syncTimes.count - 1, Int(Double(syncTimes.count) * 0.99))], t, dbSeconds)
        }
    }
}
