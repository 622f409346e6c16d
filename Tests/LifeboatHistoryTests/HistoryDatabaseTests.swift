import Foundation
import GRDB
import LifeboatCore
import LifeboatReplication
import Testing

@testable import LifeboatHistory

/// A replica's history as the daemon makes it: every event applied, every entry with the
/// incident `apply` linked it to; the leader's plan carried out with every action ok.
struct HistoryDriver {
    var state: ClusterState
    var entries: [HistoryEntry] = []
    var origin: UInt32 = 1

    init(hosts: Int = 4) {
        let big = Capacity(vcpus: 16, ramMB: 65536, diskGB: 500)
        let small = Capacity(vcpus: 2, ramMB: 4096, diskGB: 20)
        let hs = (1...hosts).map { n in Host(name: "h\(n)", segment: n <= 2 ? "a" : "b", nodeID: UInt32(n), reserved: n == 2, capacity: big) }
        let instances = [
            Instance(id: "vm1", host: "h1", ha: true, flavor: small), Instance(id: "vm2", host: "h1", ha: true, priority: 5, flavor: small),
            Instance(id: "vm3", host: "h3", ha: true, flavor: small),
        ]
        state = ClusterState(
            configuration: ClusterConfiguration(
                segments: [Segment(name: "a", recoveryMethod: .reservedHost), Segment(name: "b", recoveryMethod: .auto)], hosts: hs,
                instances: instances))
    }

    mutating func apply(_ event: Event, at t: Double) {
        var result = HistoryEntry.Result.applied
        var applied = Applied()
        do { applied = try state.apply(event, at: t) } catch { result = .rejected(error.reason) }
        entries.append(HistoryEntry(epoch: state.epoch, at: t, origin: origin, event: HistoryEntry.summary(event), result: result, applied: applied))
    }

    /// The leader's work until nothing is left to do, every action succeeding at `t`.
    mutating func lead(at t: Double) {
        for _ in 0..<100 {
            let plan = Scheduler.plan(state)
            if plan.isEmpty { return }
            for a in plan {
                apply(.actionStarted(a, term: state.term), at: t)
                guard let r = state.inFlight[a.key] else { continue }
                let outcome: Outcome = if case .fence = a { .off } else { .ok }
                apply(.actionFinished(key: a.key, attempt: r.attempt, report: ActionReport(outcome, durationMS: 120, attributes: ["target": "x"])), at: t + 0.5)
            }
        }
    }

    /// h1 crashes at `t`, is recovered, and comes back at `t + 60` (re-admitted at `t + 61.5`).
    mutating func crashAndReturn(at t: Double) {
        apply(.nodeLost(host: "h1"), at: t)
        lead(at: t + 1)
        apply(.nodeJoined(host: "h1"), at: t + 60)
        lead(at: t + 61)
    }
}

func temporaryDatabase() throws -> (HistoryDatabase, String) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-history-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let path = dir.appendingPathComponent("history.sqlite").path
    return (try HistoryDatabase(path: path), path)
}

@Suite struct HistoryDatabaseTests {
    @Test func test_aCrash_isStoredWithItsIncident_andEveryFilterFindsItsPart() throws {
        var d = HistoryDriver()
        d.apply(.quorum(quorate: true), at: 1000)
        d.crashAndReturn(at: 1010)
        let (db, _) = try temporaryDatabase()
        let out = try db.sync(window: d.entries, firstSeq: 0, context: .of(d.state), reconcile: false)
        #expect(out.inserted == d.entries.count && out.gap == nil)

        let incidents = try db.incidents(HistoryFilter()).incidents
        try #require(incidents.count == 1)
        let inc = incidents[0]
        #expect(inc.kind == .hostLost && inc.host == "h1" && inc.outcome == .recovered && inc.closedAt == 1071.5)

        var f = HistoryFilter()
        f.incident = inc.id
        let steps = try db.records(f).records
        #expect(steps.first?.kind == "node_lost")
        let evacuations = steps.filter { $0.action == "evacuate" && $0.kind == "action_finished" }
        #expect(Set(evacuations.compactMap(\.instance)) == ["vm1", "vm2"])
        #expect(evacuations.allSatisfy { $0.host == "h1" && $0.target == "h2" && $0.outcome == "ok" && $0.durationMS == 120 })
        #expect(steps.contains { $0.action == "enable_service" && $0.kind == "action_finished" })
        #expect(steps.allSatisfy { $0.originName == "h1" })

        f = HistoryFilter()
        f.instance = "vm1"
        let vm1 = try db.records(f).records
        #expect(vm1.contains { $0.kind == "node_lost" })  // through the incident that took it down
        #expect(!vm1.contains { $0.actionKey == "evacuate:vm2" })

        f = HistoryFilter()
        f.host = "h2"
        #expect(try db.records(f).records.allSatisfy { $0.host == "h2" || $0.target == "h2" })
        #expect(try db.records(f).matched == 4)  // two evacuations to h2, started and finished

        f = HistoryFilter()
        f.kinds = ["fence"]
        #expect(try db.records(f).records.map(\.kind) == ["action_started", "action_finished"])

        f = HistoryFilter()
        f.segment = "b"
        #expect(try db.records(f).matched == 0)
        f.segment = "a"
        #expect(try db.records(f).matched > 0)

        f = HistoryFilter()
        f.since = 1065
        f.until = 1070
        #expect(try db.records(f).records.map(\.kind) == ["node_joined"])
        f.limit = 0
        #expect(try db.records(f).matched == 1)
    }

    @Test func test_syncIsIncremental_andSurvivesReopening() throws {
        var d = HistoryDriver()
        d.apply(.quorum(quorate: true), at: 1000)
        let (db, path) = try temporaryDatabase()
        try db.sync(window: d.entries, firstSeq: 0, context: .of(d.state), reconcile: false)
        d.crashAndReturn(at: 1010)
        let again = try db.sync(window: d.entries, firstSeq: 0, context: .of(d.state), reconcile: false)
        #expect(again.inserted == d.entries.count - 1)
        #expect(try db.sync(window: d.entries, firstSeq: 0, context: .of(d.state), reconcile: false).inserted == 0)
        let reopened = try HistoryDatabase(path: path)
        #expect(try reopened.summary().entries == d.entries.count)
        #expect(try reopened.sync(window: d.entries, firstSeq: 0, context: .of(d.state), reconcile: true) == .init())
    }

    @Test func test_reconcile_replacesWhatALosingPartitionWrote_andRestoresItsIncidents() throws {
        var common = HistoryDriver()
        common.apply(.quorum(quorate: true), at: 1000)
        common.apply(.maintenance(host: "h4", on: true), at: 1001)
        var loser = common
        var winner = common
        // This node's side: h1 is lost and its recovery runs (entries 2…).
        loser.crashAndReturn(at: 1010)
        // The side that wins the merge: only h4 leaves maintenance.
        winner.apply(.maintenance(host: "h4", on: false), at: 1010)
        let (db, _) = try temporaryDatabase()
        try db.sync(window: loser.entries, firstSeq: 0, context: .of(loser.state), reconcile: false)
        #expect(try db.incidents(HistoryFilter()).incidents.count == 2)
        let out = try db.sync(window: winner.entries, firstSeq: 0, context: .of(winner.state), reconcile: true)
        #expect(out.superseded == loser.entries.count - 2)
        #expect(out.inserted == 1)
        #expect(try db.summary().entries == winner.entries.count)
        #expect(try db.summary().supersededEntries == loser.entries.count - 2)
        // The host incident only the loser had is gone; the maintenance window is as the
        // winner closed it.
        let incidents = try db.incidents(HistoryFilter()).incidents
        #expect(incidents.map(\.cause) == ["maintenance"])
        #expect(incidents.first?.closedAt == 1010)
        // Same records as a node that only ever saw the winner's history.
        let (other, _) = try temporaryDatabase()
        try other.sync(window: winner.entries, firstSeq: 0, context: .of(winner.state), reconcile: false)
        #expect(try db.records(HistoryFilter()).records == other.records(HistoryFilter()).records)
    }

    @Test func test_aLateJoiner_notesWhatItMissed_andAPeerFillsIt() throws {
        var d = HistoryDriver()
        d.apply(.quorum(quorate: true), at: 1000)
        d.crashAndReturn(at: 1010)
        d.crashAndReturn(at: 2010)
        let (db, _) = try temporaryDatabase()
        // The window it adopted starts at position 10: 0…9 were pruned from memory.
        let out = try db.sync(window: Array(d.entries[10...]), firstSeq: 10, context: .of(d.state), reconcile: true)
        #expect(out.gap == 0...9)
        #expect(try db.gaps() == [0...9])
        let (peer, _) = try temporaryDatabase()
        try peer.sync(window: d.entries, firstSeq: 0, context: .of(d.state), reconcile: false)
        let part = try #require(try peer.entries(in: 0...9, limit: 4))
        #expect(part.firstSeq == 0 && part.entries.count == 4)
        #expect(try db.fill(part.entries, firstSeq: 0, context: .of(d.state)) == 4)
        #expect(try db.gaps() == [4...9])
        let rest = try #require(try peer.entries(in: 4...9, limit: 100))
        try db.fill(rest.entries, firstSeq: rest.firstSeq, context: .of(d.state))
        #expect(try db.gaps().isEmpty)
        #expect(try db.records(HistoryFilter()).records == peer.records(HistoryFilter()).records)
    }

    @Test func test_retention_prunesByCountAndAge_countsIt_andKeepsOpenIncidents() throws {
        var d = HistoryDriver()
        d.apply(.quorum(quorate: true), at: 1000)
        d.crashAndReturn(at: 1010)  // closed at 1071.5
        d.apply(.nodeLost(host: "h3"), at: 5000)  // segment b: stays open (no lead)
        for n in 0..<20 { d.apply(.reserved(host: "h4", on: n % 2 == 0), at: 5000 + Double(n)) }
        let (db, _) = try temporaryDatabase()
        try db.sync(window: d.entries, firstSeq: 0, context: .of(d.state), reconcile: false)
        let total = d.entries.count
        // By age: everything older than 100 s before the newest entry (5019).
        let byAge = try db.prune(maxRecords: 1_000_000, maxAge: 100)
        let kept = d.entries.filter { $0.at >= 4919 }.count
        #expect(byAge.entries == total - kept)
        #expect(byAge.incidents == 1)  // the closed crash of h1
        let s = try db.summary()
        #expect(s.entries == kept && s.prunedEntries == total - kept && s.prunedUntil == 1071.5)
        #expect(try db.incidents(HistoryFilter()).incidents.map(\.host) == ["h3"])
        // By count: the newest 5 stay.
        let byCount = try db.prune(maxRecords: 5, maxAge: 0)
        #expect(byCount.entries == kept - 5)
        #expect(try db.summary().entries == 5)
        #expect(try db.summary().prunedEntries == total - 5)
        #expect(try db.prune(maxRecords: 5, maxAge: 0) == .init())
    }

    /// `summary()` reads the entries from a counter kept as they are written and removed
    /// (status asks for it many times a second; counting scanned the table). It must agree
    /// with the table after inserts, a supersede, both kinds of prune, and on a database
    /// written before the counter existed (schema v1), which the migration counts once.
    @Test func test_theEntriesCounter_agreesWithTheTable_throughSupersedePruneAndAnUpgrade() throws {
        func counted(_ db: HistoryDatabase) throws -> Int { try db.pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM entry") ?? -1 } }
        var common = HistoryDriver()
        common.apply(.quorum(quorate: true), at: 1000)
        var loser = common
        var winner = common
        loser.crashAndReturn(at: 1010)
        winner.apply(.maintenance(host: "h4", on: true), at: 1010)
        for n in 0..<30 { winner.apply(.reserved(host: "h4", on: n % 2 == 0), at: 1020 + Double(n)) }
        let (db, path) = try temporaryDatabase()
        try db.sync(window: loser.entries, firstSeq: 0, context: .of(loser.state), reconcile: false)
        #expect(try db.summary().entries == loser.entries.count)
        let out = try db.sync(window: winner.entries, firstSeq: 0, context: .of(winner.state), reconcile: true)
        #expect(out.superseded > 0)
        #expect(try db.summary().entries == winner.entries.count)
        #expect(try db.summary().entries == counted(db))
        try db.prune(maxRecords: 1_000_000, maxAge: 20)
        #expect(try db.summary().entries == counted(db))
        try db.prune(maxRecords: 7, maxAge: 0)
        #expect(try db.summary().entries == 7 && counted(db) == 7)
        #expect(try db.summary().openIncidents == db.pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM incident WHERE closed_at IS NULL") })

        // A v1 database: no counter, no index; the upgrade counts what is there.
        try db.pool.write { d in
            try d.execute(sql: "DELETE FROM counter WHERE name = 'entries'; DROP INDEX incident_open; DELETE FROM grdb_migrations WHERE identifier LIKE 'v2:%'")
        }
        #expect(try db.summary().entries == 0)  // what a missing counter reads as, before the upgrade
        let upgraded = try HistoryDatabase(path: path)
        #expect(try upgraded.summary().entries == 7)
        let plan = try upgraded.pool.read { try Row.fetchAll($0, sql: "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM incident WHERE closed_at IS NULL").map { $0["detail"] as String } }
        #expect(plan.joined().contains("incident_open"), "open incidents are counted from their index: \(plan)")
    }

    @Test func test_aFileThatIsNotADatabase_isRefusedWithTheReason() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-history-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("history.sqlite").path
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path))
        #expect { try HistoryDatabase(path: path) } throws: { error in "\(error)".contains("not a database") }
        // Damaged: the daemon sets such a file aside and starts a new one.
        #expect { try HistoryDatabase(path: path) } throws: { error in HistoryDatabase.isCorruption(error) }
    }

    /// A database that cannot be opened because of where it lives (here: its directory is a
    /// file; in production a full disk) is not damaged: the daemon keeps it and tries again.
    @Test func test_aDatabaseThatCannotBeOpened_isNotTakenForCorrupt() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-history-\(UUID().uuidString)")
        try Data("a file, not a directory".utf8).write(to: dir)
        #expect { try HistoryDatabase(path: dir.appendingPathComponent("history.sqlite").path) } throws: { error in
            !HistoryDatabase.isCorruption(error)
        }
    }
}
