import GRDB
import LifeboatCore

/// Retention: the replicated policy bounds the durable history by age and by count
/// (`archive_retention_age`, `archive_retention`). Every node prunes by the same rule from
/// the same records; what is pruned is counted and `lifeboat history` says so.
extension HistoryDatabase {
    public struct Pruned: Sendable, Equatable {
        public var entries = 0
        public var incidents = 0
        public init() {}
    }

    /// Drops entries older than `maxAge` seconds before the newest entry, and the oldest
    /// beyond `maxRecords`; then incidents closed before the oldest entry kept.
    @discardableResult
    public func prune(maxRecords: Int, maxAge: Double) throws -> Pruned {
        try pool.write { db in
            var p = Pruned()
            guard let newest = try Row.fetchOne(db, sql: "SELECT seq, at FROM entry ORDER BY seq DESC LIMIT 1") else { return p }
            let newestSeq: Int = newest["seq"]
            let newestAt: Double = newest["at"]
            var cutSeq = newestSeq - max(1, maxRecords) + 1
            if maxAge > 0, let oldestKept = try Int.fetchOne(db, sql: "SELECT MIN(seq) FROM entry WHERE at >= ?", arguments: [newestAt - maxAge]) {
                cutSeq = max(cutSeq, oldestKept)
            }
            let until = try Double.fetchOne(db, sql: "SELECT MAX(at) FROM entry WHERE seq < ?", arguments: [cutSeq])
            try db.execute(sql: "DELETE FROM entry WHERE seq < ?", arguments: [cutSeq])
            p.entries = db.changesCount
            guard p.entries > 0 else { return p }
            try add(db, "entries", -Double(p.entries))
            try db.execute(sql: "DELETE FROM incident_change WHERE seq < ?", arguments: [cutSeq])
            let oldestAt = try Double.fetchOne(db, sql: "SELECT MIN(at) FROM entry") ?? newestAt
            let gone = try Int.fetchAll(db, sql: "SELECT id FROM incident WHERE closed_at IS NOT NULL AND closed_at < ?", arguments: [oldestAt])
            for id in gone {
                try db.execute(sql: "DELETE FROM incident WHERE id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM incident_instance WHERE incident = ?", arguments: [id])
            }
            p.incidents = gone.count
            try db.execute(sql: "DELETE FROM gap WHERE last < ?", arguments: [cutSeq])
            try db.execute(sql: "UPDATE gap SET first = ? WHERE first < ?", arguments: [cutSeq, cutSeq])
            try add(db, "pruned_entries", Double(p.entries))
            try add(db, "pruned_incidents", Double(p.incidents))
            if let until { try set(db, "pruned_until", until) }
            return p
        }
    }
}
