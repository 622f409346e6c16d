import Foundation
import GRDB
import LifeboatCore
import LifeboatReplication

/// Writing: the database follows the replica's history window (`Replica.history`, the
/// entries at positions `firstSeq…`). Every member applies the same events in the same
/// order, so the same position holds the same entry on every member; after a sync round a
/// member may have adopted another member's history, and `reconcile` then replaces what
/// differs (this node's side of a partition that lost the merge) and notes what it missed.
extension HistoryDatabase {
    public struct SyncOutcome: Sendable, Equatable {
        public var inserted = 0
        /// Entries of this node replaced by the window's (moved to `superseded`).
        public var superseded = 0
        /// Positions missed before the window starts (to be fetched from a peer).
        public var gap: ClosedRange<Int>? = nil
        public init() {}
    }

    /// The highest position stored (nil: empty).
    public func lastSeq() throws -> Int? {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM entry") }
    }

    /// Stores what the window holds beyond what is stored. With `reconcile`, first compares
    /// the overlap and replaces everything from the first difference (after a sync round,
    /// and at start).
    @discardableResult
    public func sync(
        window: [HistoryEntry], firstSeq: Int, context: RecordContext, reconcile: Bool, now: Double = Date().timeIntervalSince1970
    ) throws -> SyncOutcome {
        try pool.write { db in
            var out = SyncOutcome()
            let windowEnd = firstSeq + window.count - 1
            var last = try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM entry")
            if reconcile, let stored = last {
                let from = max(firstSeq, 0)
                let to = min(stored, windowEnd)
                var divergence: Int? = nil
                if from <= to {
                    let rows = try Row.fetchCursor(
                        db, sql: "SELECT seq, body FROM entry WHERE seq BETWEEN ? AND ? ORDER BY seq", arguments: [from, to])
                    var expected = from
                    while let row = try rows.next() {
                        let seq: Int = row["seq"]
                        let body: String = row["body"]
                        if seq != expected || body != Self.body(window[seq - firstSeq]) {
                            divergence = min(seq, expected)
                            break
                        }
                        expected += 1
                    }
                    if divergence == nil, expected <= to { divergence = expected }
                }
                if divergence == nil, stored > windowEnd, !window.isEmpty { divergence = windowEnd + 1 }
                if let d = divergence, d <= stored {
                    out.superseded = try supersede(db, from: d, now: now)
                    last = try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM entry")
                }
            }
            guard !window.isEmpty else { return out }
            var next = (last ?? -1) + 1
            if next < firstSeq {
                out.gap = next...(firstSeq - 1)
                try db.execute(sql: "INSERT OR REPLACE INTO gap(first, last) VALUES (?, ?)", arguments: [next, firstSeq - 1])
                next = firstSeq
            }
            guard next <= windowEnd else { return out }
            for seq in next...windowEnd {
                try insert(db, seq: seq, entry: window[seq - firstSeq], context: context)
                out.inserted += 1
            }
            return out
        }
    }

    /// Fills a gap with entries a peer sent (positions `firstSeq…`). Entries already stored
    /// are left alone; what was filled is taken off the gap list.
    @discardableResult
    public func fill(_ entries: [HistoryEntry], firstSeq: Int, context: RecordContext) throws -> Int {
        try pool.write { db in
            var filled = 0
            for (n, entry) in entries.enumerated() {
                let seq = firstSeq + n
                if try Bool.fetchOne(db, sql: "SELECT 1 FROM entry WHERE seq = ?", arguments: [seq]) == true { continue }
                try insert(db, seq: seq, entry: entry, context: context)
                filled += 1
            }
            guard !entries.isEmpty else { return 0 }
            let lastFilled = firstSeq + entries.count - 1
            for row in try Row.fetchAll(db, sql: "SELECT first, last FROM gap WHERE first <= ? AND last >= ?", arguments: [lastFilled, firstSeq]) {
                let first: Int = row["first"]
                let last: Int = row["last"]
                try db.execute(sql: "DELETE FROM gap WHERE first = ?", arguments: [first])
                if first < firstSeq { try db.execute(sql: "INSERT INTO gap(first, last) VALUES (?, ?)", arguments: [first, firstSeq - 1]) }
                if last > lastFilled { try db.execute(sql: "INSERT INTO gap(first, last) VALUES (?, ?)", arguments: [lastFilled + 1, last]) }
            }
            return filled
        }
    }

    /// Ranges this node is missing, oldest first.
    public func gaps() throws -> [ClosedRange<Int>] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT first, last FROM gap ORDER BY first").map { row in
                let first: Int = row["first"]
                let last: Int = row["last"]
                return first...last
            }
        }
    }

    /// A peer gave up on a range (it no longer holds it either): forget it.
    public func dropGap(_ range: ClosedRange<Int>) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM gap WHERE first >= ? AND last <= ?", arguments: [range.lowerBound, range.upperBound])
            try add(db, "gap_given_up", Double(range.count))
        }
    }

    /// The replicated entries at positions `range` that this node holds (for a peer's gap).
    public func entries(in range: ClosedRange<Int>, limit: Int) throws -> (firstSeq: Int, entries: [HistoryEntry])? {
        try pool.read { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT seq, body FROM entry WHERE seq BETWEEN ? AND ? ORDER BY seq LIMIT ?",
                arguments: [range.lowerBound, range.upperBound, limit])
            guard let first = rows.first.map({ $0["seq"] as Int }) else { return nil }
            var out: [HistoryEntry] = []
            for (n, row) in rows.enumerated() {
                guard (row["seq"] as Int) == first + n, let v = try? JSONParser.parse(row["body"] as String),
                    let e = try? HistoryEntry.decode(v, at: "")
                else { break }
                out.append(e)
            }
            return (first, out)
        }
    }

    // MARK: Rows

    static func body(_ entry: HistoryEntry) -> String { JSONWriter.write(entry.json, timeKeys: []) }

    func insert(_ db: Database, seq: Int, entry: HistoryEntry, context: RecordContext) throws {
        let body = Self.body(entry)
        let r = HistoryRecord.make(seq: seq, entry: entry, body: body, context: context) { key in
            guard let row = try? Row.fetchOne(
                db, sql: "SELECT action, host, target, instance, segment FROM entry WHERE action_key = ? AND kind = 'action_started' ORDER BY seq DESC LIMIT 1",
                arguments: [key])
            else { return nil }
            return ActionSubject(kind: row["action"], host: row["host"], target: row["target"], instance: row["instance"], segment: row["segment"])
        }
        try db.execute(
            sql: """
                INSERT INTO entry (seq, epoch, at, origin, origin_name, kind, action, action_key, host, target, instance, segment,
                                   incident, result, reason, outcome, duration_ms, body)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                r.seq, Int64(bitPattern: r.epoch), r.at, Int64(r.origin), r.originName, r.kind, r.action, r.actionKey, r.host, r.target,
                r.instance, r.segment, r.incident, r.result, r.reason, r.outcome, r.durationMS, r.body,
            ])
        try add(db, "entries", 1)
        for inc in entry.applied.incidents {
            try store(db, inc)
            try db.execute(sql: "INSERT OR REPLACE INTO incident_change(seq, incident) VALUES (?, ?)", arguments: [seq, inc.id])
        }
    }

    func store(_ db: Database, _ inc: Incident) throws {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO incident (id, kind, scope, cause, host, segment, instance, process, opened_at, resolved_at,
                                                 outcome, closed_at, summary, related, body)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                inc.id, inc.kind.rawValue, inc.scope, inc.cause, inc.host, inc.segment, inc.instance, inc.process, inc.openedAt,
                inc.resolvedAt, inc.outcome?.rawValue, inc.closedAt, inc.summary, inc.related, JSONWriter.write(inc.json, timeKeys: []),
            ])
        try db.execute(sql: "DELETE FROM incident_instance WHERE incident = ?", arguments: [inc.id])
        for i in inc.instances {
            try db.execute(sql: "INSERT OR IGNORE INTO incident_instance(incident, instance) VALUES (?, ?)", arguments: [inc.id, i])
        }
    }

    /// Moves the entries from position `seq` on to `superseded` and puts every incident
    /// they changed back as the entries before them left it.
    func supersede(_ db: Database, from seq: Int, now: Double) throws -> Int {
        let affected = try Int.fetchAll(db, sql: "SELECT DISTINCT incident FROM incident_change WHERE seq >= ?", arguments: [seq])
        try db.execute(sql: "INSERT INTO superseded(seq, superseded_at, body) SELECT seq, ?, body FROM entry WHERE seq >= ?", arguments: [now, seq])
        try db.execute(sql: "DELETE FROM entry WHERE seq >= ?", arguments: [seq])
        let moved = db.changesCount
        try add(db, "entries", -Double(moved))
        try db.execute(sql: "DELETE FROM incident_change WHERE seq >= ?", arguments: [seq])
        for id in affected {
            let before = try Row.fetchOne(
                db, sql: "SELECT e.body FROM incident_change c JOIN entry e ON e.seq = c.seq WHERE c.incident = ? ORDER BY c.seq DESC LIMIT 1",
                arguments: [id])
            if let body: String = before?["body"], let v = try? JSONParser.parse(body), let e = try? HistoryEntry.decode(v, at: ""),
                let inc = e.applied.incidents.first(where: { $0.id == id })
            {
                try store(db, inc)
            } else {
                try db.execute(sql: "DELETE FROM incident WHERE id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM incident_instance WHERE incident = ?", arguments: [id])
            }
        }
        try add(db, "superseded_entries", Double(moved))
        // Bounded: the newest 10,000 superseded entries are kept.
        try db.execute(sql: "DELETE FROM superseded WHERE rowid <= (SELECT MAX(rowid) FROM superseded) - 10000")
        return moved
    }
}
