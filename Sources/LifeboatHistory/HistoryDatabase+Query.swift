import GRDB
import LifeboatCore

/// What `lifeboat history` and `lifeboat incident` ask: entries and incidents by host,
/// instance, segment, kind, time and incident, newest first up to a limit, with the number
/// that matched.
public struct HistoryFilter: Sendable, Equatable {
    public var host: String? = nil
    public var instance: String? = nil
    public var segment: String? = nil
    /// Event kinds (`node_lost`), action kinds (`fence`, `evacuate`) or, for incidents,
    /// incident kinds (`host_lost`).
    public var kinds: [String] = []
    public var since: Double? = nil
    public var until: Double? = nil
    public var incident: Int? = nil
    public var limit: Int = 100
    public init() {}
}

public struct HistoryPage: Sendable {
    /// Oldest first.
    public var records: [HistoryRecord]
    /// How many matched in all (`records` holds the newest `limit` of them).
    public var matched: Int
}

/// What the database holds, for `status` and the footer of `lifeboat history`.
public struct HistorySummary: Sendable, Equatable {
    public var entries = 0
    public var incidents = 0
    public var openIncidents = 0
    public var firstSeq: Int? = nil
    public var lastSeq: Int? = nil
    public var oldestAt: Double? = nil
    public var newestAt: Double? = nil
    public var prunedEntries = 0
    public var prunedIncidents = 0
    /// Entries up to this time were pruned by retention.
    public var prunedUntil: Double? = nil
    public var supersededEntries = 0
    public var gaps: [ClosedRange<Int>] = []
    public init() {}
}

extension HistoryDatabase {
    public func records(_ f: HistoryFilter) throws -> HistoryPage {
        try pool.read { db in
            var conditions: [String] = []
            var args: [any DatabaseValueConvertible] = []
            if let h = f.host {
                conditions.append("(host = ? OR target = ?)")
                args += [h, h]
            }
            if let i = f.instance {
                // Its own entries, and the entries about no instance in particular of the
                // incidents that took it down (the host's loss, the fence, the force-down).
                conditions.append("(instance = ? OR (instance IS NULL AND incident IN (SELECT incident FROM incident_instance WHERE instance = ?)))")
                args += [i, i]
            }
            if let s = f.segment {
                conditions.append("segment = ?")
                args.append(s)
            }
            if !f.kinds.isEmpty {
                let marks = Array(repeating: "?", count: f.kinds.count).joined(separator: ", ")
                conditions.append("(kind IN (\(marks)) OR action IN (\(marks)))")
                args += f.kinds + f.kinds
            }
            if let since = f.since {
                conditions.append("at >= ?")
                args.append(since)
            }
            if let until = f.until {
                conditions.append("at <= ?")
                args.append(until)
            }
            if let id = f.incident {
                conditions.append("incident = ?")
                args.append(id)
            }
            let whereSQL = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            let matched = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM entry \(whereSQL)", arguments: StatementArguments(args)) ?? 0
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM entry \(whereSQL) ORDER BY seq DESC LIMIT ?", arguments: StatementArguments(args + [max(0, f.limit)]))
            return HistoryPage(records: rows.reversed().map(Self.record), matched: matched)
        }
    }

    /// Incidents that overlap the filter's time range (opened before `until`, not closed
    /// before `since`), newest first up to the limit, returned oldest first.
    public func incidents(_ f: HistoryFilter) throws -> (incidents: [Incident], matched: Int) {
        try pool.read { db in
            var conditions: [String] = []
            var args: [any DatabaseValueConvertible] = []
            if let h = f.host {
                conditions.append("host = ?")
                args.append(h)
            }
            if let i = f.instance {
                conditions.append("(instance = ? OR id IN (SELECT incident FROM incident_instance WHERE instance = ?))")
                args += [i, i]
            }
            if let s = f.segment {
                conditions.append("segment = ?")
                args.append(s)
            }
            if !f.kinds.isEmpty {
                conditions.append("kind IN (\(Array(repeating: "?", count: f.kinds.count).joined(separator: ", ")))")
                args += f.kinds
            }
            if let since = f.since {
                conditions.append("(closed_at IS NULL OR closed_at >= ? OR opened_at >= ?)")
                args += [since, since]
            }
            if let until = f.until {
                conditions.append("opened_at <= ?")
                args.append(until)
            }
            if let id = f.incident {
                conditions.append("id = ?")
                args.append(id)
            }
            let whereSQL = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            let matched = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM incident \(whereSQL)", arguments: StatementArguments(args)) ?? 0
            let bodies = try String.fetchAll(
                db, sql: "SELECT body FROM incident \(whereSQL) ORDER BY id DESC LIMIT ?", arguments: StatementArguments(args + [max(0, f.limit)]))
            return (bodies.reversed().compactMap(Self.incident), matched)
        }
    }

    /// The records of many incidents at once, by incident, oldest first: one query, the
    /// ids passed as one JSON array (an instance's incidents are spread over the whole
    /// history: a range from the first to the last would read every incident between).
    /// With `kinds`, only records of those kinds (the report needs the actions and a few
    /// operator events, not every failure report an incident collected).
    public func records(ofIncidents ids: Set<Int>, kinds: Set<String>? = nil) throws -> [Int: [HistoryRecord]] {
        guard !ids.isEmpty else { return [:] }
        return try pool.read { db in
            var out: [Int: [HistoryRecord]] = [:]
            var sql = "SELECT * FROM entry WHERE incident IN (SELECT value FROM json_each(?))"
            var args: [any DatabaseValueConvertible] = [JSONWriter.write(.array(ids.sorted().map { .int($0) }))]
            if let kinds, !kinds.isEmpty {
                sql += " AND kind IN (\(Array(repeating: "?", count: kinds.count).joined(separator: ", ")))"
                args += kinds.sorted()
            }
            let rows = try Row.fetchCursor(db, sql: sql + " ORDER BY incident, seq", arguments: StatementArguments(args))
            while let row = try rows.next() {
                out[row["incident"], default: []].append(Self.record(row))
            }
            return out
        }
    }

    public func incident(_ id: Int) throws -> Incident? {
        try pool.read { db in
            try String.fetchOne(db, sql: "SELECT body FROM incident WHERE id = ?", arguments: [id]).flatMap(Self.incident)
        }
    }

    public func summary() throws -> HistorySummary {
        try pool.read { db in
            var s = HistorySummary()
            // Each a search of an index, never a scan: `status` asks for this often (the
            // entries are counted as they are written, v2 of the schema).
            s.entries = Int(try counter(db, "entries"))
            if let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT (SELECT MIN(seq) FROM entry) AS first, (SELECT MAX(seq) FROM entry) AS last,
                           (SELECT MIN(at) FROM entry) AS oldest, (SELECT MAX(at) FROM entry) AS newest
                    """)
            {
                s.firstSeq = row["first"]
                s.lastSeq = row["last"]
                s.oldestAt = row["oldest"]
                s.newestAt = row["newest"]
            }
            s.incidents = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM incident") ?? 0
            s.openIncidents = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM incident WHERE closed_at IS NULL") ?? 0
            s.prunedEntries = Int(try counter(db, "pruned_entries"))
            s.prunedIncidents = Int(try counter(db, "pruned_incidents"))
            let until = try counter(db, "pruned_until")
            s.prunedUntil = until > 0 ? until : nil
            s.supersededEntries = Int(try counter(db, "superseded_entries"))
            s.gaps = try Row.fetchAll(db, sql: "SELECT first, last FROM gap ORDER BY first").map { ($0["first"] as Int)...($0["last"] as Int) }
            return s
        }
    }

    static func record(_ row: Row) -> HistoryRecord {
        HistoryRecord(
            seq: row["seq"], epoch: UInt64(bitPattern: row["epoch"] as Int64), at: row["at"], origin: UInt32(clamping: row["origin"] as Int64),
            originName: row["origin_name"], kind: row["kind"], action: row["action"], actionKey: row["action_key"], host: row["host"],
            target: row["target"], instance: row["instance"], segment: row["segment"], incident: row["incident"], result: row["result"],
            reason: row["reason"], outcome: row["outcome"], durationMS: row["duration_ms"], body: row["body"])
    }

    static func incident(_ body: String) -> Incident? {
        guard let v = try? JSONParser.parse(body) else { return nil }
        return try? Incident.decode(v, at: "")
    }
}
