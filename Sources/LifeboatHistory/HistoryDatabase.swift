import Foundation
import GRDB
import LifeboatCore

/// The durable history of one node: every replicated history entry and every incident, in
/// SQLite (`STATE_DIR/history.sqlite`, WAL), written from the replicated log so that every
/// node holds the same records (`sync`), kept across restarts and bounded only by the
/// replicated retention settings (`prune`), never by silent loss.
///
/// Writes happen on the daemon's actor in small transactions; reads go through the pool's
/// readers, concurrently with writes (WAL).
public final class HistoryDatabase: Sendable {
    public let path: String
    let pool: DatabasePool

    /// Opens (or creates) the database and brings its schema up to date.
    public init(path: String) throws {
        self.path = path
        var config = Configuration()
        config.label = "lifeboat-history"
        config.prepareDatabase { db in
            // The replicated state (StateStore) is the durable record: a crash may lose the
            // last transactions here, and `sync` writes them again from the state's window.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        config.busyMode = .timeout(5)
        pool = try DatabasePool(path: path, configuration: config)
        try Self.migrator.migrate(pool)
    }

    /// Whether an error opening the database says its file is damaged (not SQLite, or
    /// corrupt), as opposed to a full disk or an I/O error, after which the same file opens
    /// again once the disk is repaired and must not be set aside.
    public static func isCorruption(_ error: any Error) -> Bool {
        guard let e = error as? DatabaseError else { return false }
        return e.resultCode == .SQLITE_CORRUPT || e.resultCode == .SQLITE_NOTADB
    }

    /// The schema, one migration per change; never edit a migration that shipped.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: entries, incidents, superseded entries, gaps, counters") { db in
            try db.execute(
                sql: """
                    CREATE TABLE entry (
                        seq INTEGER PRIMARY KEY,
                        epoch INTEGER NOT NULL,
                        at REAL NOT NULL,
                        origin INTEGER NOT NULL,
                        origin_name TEXT,
                        kind TEXT NOT NULL,
                        action TEXT,
                        action_key TEXT,
                        host TEXT,
                        target TEXT,
                        instance TEXT,
                        segment TEXT,
                        incident INTEGER,
                        result TEXT NOT NULL,
                        reason TEXT,
                        outcome TEXT,
                        duration_ms INTEGER,
                        body TEXT NOT NULL
                    );
                    CREATE INDEX entry_at ON entry(at);
                    CREATE INDEX entry_host ON entry(host, at);
                    CREATE INDEX entry_target ON entry(target, at);
                    CREATE INDEX entry_instance ON entry(instance, at);
                    CREATE INDEX entry_segment ON entry(segment, at);
                    CREATE INDEX entry_incident ON entry(incident, seq);
                    CREATE INDEX entry_kind ON entry(kind, at);
                    CREATE INDEX entry_action_key ON entry(action_key, seq);

                    CREATE TABLE incident (
                        id INTEGER PRIMARY KEY,
                        kind TEXT NOT NULL,
                        scope TEXT NOT NULL,
                        cause TEXT NOT NULL,
                        host TEXT,
                        segment TEXT,
                        instance TEXT,
                        process TEXT,
                        opened_at REAL NOT NULL,
                        resolved_at REAL,
                        outcome TEXT,
                        closed_at REAL,
                        summary TEXT NOT NULL,
                        related INTEGER,
                        body TEXT NOT NULL
                    );
                    CREATE INDEX incident_opened ON incident(opened_at);
                    CREATE INDEX incident_host ON incident(host, opened_at);
                    CREATE INDEX incident_segment ON incident(segment, opened_at);
                    -- The instances an incident took down (downtime, --instance).
                    CREATE TABLE incident_instance (
                        incident INTEGER NOT NULL,
                        instance TEXT NOT NULL,
                        PRIMARY KEY (incident, instance)
                    ) WITHOUT ROWID;
                    CREATE INDEX incident_instance_by_instance ON incident_instance(instance);
                    -- Which entry last changed each incident: undoing entries restores the
                    -- incident as the entry before them left it.
                    CREATE TABLE incident_change (
                        seq INTEGER NOT NULL,
                        incident INTEGER NOT NULL,
                        PRIMARY KEY (seq, incident)
                    ) WITHOUT ROWID;
                    CREATE INDEX incident_change_by_incident ON incident_change(incident, seq);

                    -- Entries a sync replaced (this node's side of a partition that lost the
                    -- merge): kept apart, for the record, bounded.
                    CREATE TABLE superseded (
                        seq INTEGER NOT NULL,
                        superseded_at REAL NOT NULL,
                        body TEXT NOT NULL
                    );
                    -- Ranges of entries this node missed and has not received yet.
                    CREATE TABLE gap (
                        first INTEGER PRIMARY KEY,
                        last INTEGER NOT NULL
                    );
                    CREATE TABLE counter (
                        name TEXT PRIMARY KEY,
                        value REAL NOT NULL
                    );
                    """)
        }
        // `lifeboat status` shows how many entries and open incidents the history holds, and
        // a busy cluster asks it many times a second. Counting them scanned the tables (20 ms
        // a status at 20,000 entries, and growing with the archive): the entries are now
        // counted as they are written and removed (counter `entries`, in the same
        // transactions), and the open incidents have an index of their own.
        m.registerMigration("v2: entries counted as written, open incidents indexed") { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO counter(name, value) SELECT 'entries', COUNT(*) FROM entry;
                    CREATE INDEX incident_open ON incident(id) WHERE closed_at IS NULL;
                    """)
        }
        return m
    }

    /// Counters kept with the data (what retention pruned, what syncs replaced).
    func counter(_ db: Database, _ name: String) throws -> Double {
        try Double.fetchOne(db, sql: "SELECT value FROM counter WHERE name = ?", arguments: [name]) ?? 0
    }

    func add(_ db: Database, _ name: String, _ value: Double) throws {
        try db.execute(
            sql: "INSERT INTO counter(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            arguments: [name, value])
    }

    func set(_ db: Database, _ name: String, _ value: Double) throws {
        try db.execute(
            sql: "INSERT INTO counter(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            arguments: [name, value])
    }
}

/// A history database error, with what was being done.
public struct HistoryError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
