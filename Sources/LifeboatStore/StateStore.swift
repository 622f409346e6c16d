import Foundation
import LifeboatCore
import LifeboatReplication

#if canImport(Glibc)
    import Glibc
#endif

/// The whole replicated state on local disk, so that a whole-cluster restart resumes where
/// the cluster stopped (recoveries, fence results, forced-down services, storm halts, flap
/// history, in-flight records, notices, the action log and the history).
///
/// Two files in the state directory:
/// - `snapshot.lbs`: a header line `lifeboat-snapshot 1 BYTES CRC32C` and the state, its
///   history, its pruned count and its generation G in the wire schema. Written to a
///   temporary file, fsynced, renamed, and the directory fsynced.
/// - `events-G.log`: every event applied (or refused) since that snapshot, one record each:
///   4-byte length, 4-byte CRC-32C (little endian), the record's JSON. `sync()` fsyncs it;
///   the daemon calls it before it runs an executor, so what a node acts on is on its disk.
///
/// Loading checks everything: the snapshot's checksum and schema, each record's checksum,
/// and that replaying the records reproduces their epochs. A torn tail (a crash while
/// appending) is cut off with a warning; a corrupt snapshot is set aside (renamed) and the
/// node starts empty, so that its peers' state wins the next sync round.
public final class StateStore {
    public let directory: String
    public var snapshotPath: String { directory + "/snapshot.lbs" }
    /// The log of the current snapshot generation (each snapshot starts a new one).
    public var logPath: String { directory + "/events-\(generation).log" }
    public private(set) var generation: UInt64 = 0
    /// The configuration file of earlier versions (read once to migrate).
    public var legacyConfigPath: String { directory + "/config.json" }

    private var logFD: Int32 = -1
    private var dirty = false
    /// Records appended since the last snapshot.
    public private(set) var recordsSinceSnapshot = 0
    public private(set) var logBytes = 0
    /// Why the log stopped being written: a write or an fsync of it failed (a full disk, an
    /// I/O error), so it may end in a torn record and lacks what was not written. Nothing
    /// more is appended after such a gap (a reload would stop at it and lose what follows);
    /// the next snapshot, which holds everything, starts a clean generation. Nil while the
    /// log is whole.
    public private(set) var logBroken: String? = nil
    /// A new snapshot is written after this many records (the log is then emptied).
    public var compactAfterRecords = 20_000
    public var compactAfterBytes = 64 << 20

    public struct Loaded {
        public var state: ClusterState
        public var history: [HistoryEntry]
        public var prunedHistory: Int
        /// What was found and done (replayed records, a cut tail, a quarantined file).
        public var notes: [String]
    }

    public struct StoreError: Error, CustomStringConvertible {
        public var description: String
        init(_ d: String) { description = d }
    }

    public init(directory: String) { self.directory = directory }

    deinit { if logFD >= 0 { close(logFD) } }

    // MARK: Loading

    /// The saved state, or nil when nothing was saved. Throws only for I/O errors that
    /// make the directory unusable (permissions); bad content is handled as described above.
    public func load() throws -> Loaded? {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard FileManager.default.fileExists(atPath: snapshotPath) else {
            unlink(logPath)  // records of a start that never wrote its first snapshot
            return nil
        }
        var notes: [String] = []
        var loaded: Loaded
        do {
            loaded = try readSnapshot()
        } catch {
            let aside = snapshotPath + ".corrupt-\(Int(Date().timeIntervalSince1970))"
            _ = rename(snapshotPath, aside)
            _ = rename(logPath, aside + ".log")
            notes.append("ERROR: \(snapshotPath) is unusable (\(error)); set aside as \(aside): starting empty, the peers' state wins")
            return Loaded(state: ClusterState(configuration: ClusterConfiguration()), history: [], prunedHistory: 0, notes: notes)
        }
        let (records, goodBytes, tailProblem) = readLog()
        var replayed = 0
        for r in records {
            var applied = Applied()
            if r.result == .applied {
                do { applied = try loaded.state.apply(r.event, at: r.at) } catch {
                    notes.append("ERROR: replaying \(logPath) stopped at epoch \(r.epoch): \(error)")
                    break
                }
            }
            guard loaded.state.epoch == r.epoch else {
                notes.append("ERROR: replaying \(logPath) reached epoch \(loaded.state.epoch), the record says \(r.epoch): stopped there")
                break
            }
            if var h = r.historyEntry {
                h.applied = applied
                loaded.history.append(h)
            }
            replayed += 1
        }
        if let tailProblem {
            notes.append("warning: \(logPath): \(tailProblem); cut at byte \(goodBytes) (a crash while writing)")
            if let fd = Optional(open(logPath, O_WRONLY)), fd >= 0 {
                _ = ftruncate(fd, off_t(goodBytes))
                fsync(fd)
                close(fd)
            }
        }
        notes.append("loaded \(snapshotPath) and \(replayed) logged events: epoch \(loaded.state.epoch), term \(loaded.state.term)")
        loaded.notes = notes
        recordsSinceSnapshot = records.count
        logBytes = goodBytes
        return loaded
    }

    func readSnapshot() throws -> Loaded {
        guard let data = FileManager.default.contents(atPath: snapshotPath) else { throw StoreError("cannot read") }
        let bytes = [UInt8](data)
        guard let nl = bytes.firstIndex(of: 0x0A) else { throw StoreError("no header") }
        let header = String(decoding: bytes[..<nl], as: UTF8.self).split(separator: " ")
        guard header.count == 4, header[0] == "lifeboat-snapshot", header[1] == "1", let size = Int(header[2]),
            let crc = UInt32(header[3])
        else { throw StoreError("bad header '\(header.joined(separator: " "))'") }
        let body = Array(bytes[(nl + 1)...])
        guard body.count == size else { throw StoreError("\(body.count) bytes after the header, \(size) expected") }
        guard CRC32C.checksum(body) == crc else { throw StoreError("checksum mismatch") }
        let json: JSONValue
        do { json = try JSONParser.parse(bytes: body) } catch { throw StoreError("invalid JSON at \(error)") }
        do {
            var r = try ObjectReader(json, at: "snapshot")
            let state = try ClusterState.decode(try r.required("state"), at: "snapshot.state")
            let history = try r.list("history") { v, p throws(ScenarioError) in try HistoryEntry.decode(v, at: p) }
            let pruned = Int(try r.uint64("pruned_history"))
            generation = try r.uint64("generation")
            try r.finish()
            return Loaded(state: state, history: history, prunedHistory: pruned, notes: [])
        } catch { throw StoreError("\(error)") }
    }

    /// Records in order, the length of the valid prefix, and what ended it early.
    func readLog() -> ([LogRecord], Int, String?) {
        guard let data = FileManager.default.contents(atPath: logPath) else { return ([], 0, nil) }
        let bytes = [UInt8](data)
        var records: [LogRecord] = []
        var i = 0
        func u32(_ at: Int) -> UInt32 {
            UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
        }
        while i < bytes.count {
            guard i + 8 <= bytes.count else { return (records, i, "a record header is cut short") }
            let length = Int(u32(i))
            let crc = u32(i + 4)
            guard length <= WireMessage.maxMessageBytes, i + 8 + length <= bytes.count else {
                return (records, i, "a \(length)-byte record is cut short")
            }
            let payload = bytes[(i + 8)..<(i + 8 + length)]
            guard CRC32C.checksum(payload) == crc else { return (records, i, "a record fails its checksum") }
            do {
                let json = try JSONParser.parse(bytes: Array(payload))
                records.append(try LogRecord.decode(json, at: "record"))
            } catch { return (records, i, "a record does not decode: \(error)") }
            i += 8 + length
        }
        return (records, i, nil)
    }

    // MARK: Writing

    /// Appends one record (durable at the next `sync()`). While the log is broken
    /// (`logBroken`) the record is not written: the next snapshot covers it.
    public func append(_ record: LogRecord) throws {
        guard logBroken == nil else { return }
        if logFD < 0 {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            logFD = open(logPath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            guard logFD >= 0 else { throw StoreError("cannot open \(logPath): \(String(cString: strerror(errno)))") }
        }
        let payload = Array(JSONWriter.write(record.json, timeKeys: []).utf8)
        var frame: [UInt8] = []
        frame.reserveCapacity(payload.count + 8)
        for v in [UInt32(payload.count), CRC32C.checksum(payload)] {
            frame += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)]
        }
        frame += payload
        do { try writeAll(logFD, frame, logPath) } catch {
            // Take back a partly written frame, so that the file ends on a whole record.
            _ = ftruncate(logFD, off_t(logBytes))
            logBroken = "\(error)"
            throw error
        }
        dirty = true
        recordsSinceSnapshot += 1
        logBytes += frame.count
    }

    /// Makes every appended record durable.
    public func sync() throws {
        guard dirty, logFD >= 0, logBroken == nil else { return }
        guard fsync(logFD) == 0 else {
            // After a failed fsync the kernel may have dropped the dirty pages: what the
            // file holds is not known, so it is not trusted either.
            let error = StoreError("fsync \(logPath): \(String(cString: strerror(errno)))")
            logBroken = "\(error)"
            throw error
        }
        dirty = false
    }

    public var wantsCompaction: Bool {
        logBroken != nil || recordsSinceSnapshot >= compactAfterRecords || logBytes >= compactAfterBytes
    }

    /// Writes the whole state as the new snapshot and empties the log. A failure breaks the
    /// log (`logBroken`) until a snapshot succeeds: the state written may be one adopted
    /// wholesale from a peer, which the old snapshot and its log do not lead to, so records
    /// appended after it would not replay.
    public func writeSnapshot(state: ClusterState, history: [HistoryEntry], prunedHistory: Int) throws {
        do { try writeSnapshotFiles(state: state, history: history, prunedHistory: prunedHistory) } catch {
            logBroken = "\(error)"
            throw error
        }
    }

    private func writeSnapshotFiles(state: ClusterState, history: [HistoryEntry], prunedHistory: Int) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let next = generation + 1
        let nextLog = directory + "/events-\(next).log"
        // The next generation's log exists, empty, before the snapshot that names it.
        let newLog = open(nextLog, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600)
        guard newLog >= 0 else { throw StoreError("cannot create \(nextLog): \(String(cString: strerror(errno)))") }
        fsync(newLog)
        let body = Array(
            JSONWriter.write(
                .object([
                    ("generation", .uint(next)), ("state", state.json), ("history", .array(history.map(\.json))), ("pruned_history", .int(prunedHistory)),
                ]), timeKeys: []
            ).utf8)
        let header = Array("lifeboat-snapshot 1 \(body.count) \(CRC32C.checksum(body))\n".utf8)
        let tmp = snapshotPath + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        do {
            guard fd >= 0 else { throw StoreError("cannot create \(tmp): \(String(cString: strerror(errno)))") }
            try writeAll(fd, header + body, tmp)
            guard fsync(fd) == 0 else { throw StoreError("fsync \(tmp): \(String(cString: strerror(errno)))") }
        } catch {
            // Nothing of the attempt stays behind: on a full disk its files are what fills it.
            if fd >= 0 { close(fd) }
            close(newLog)
            unlink(tmp)
            unlink(nextLog)
            throw error
        }
        close(fd)
        guard rename(tmp, snapshotPath) == 0 else {
            close(newLog)
            unlink(tmp)
            unlink(nextLog)
            throw StoreError("rename \(tmp): \(String(cString: strerror(errno)))")
        }
        // The snapshot covers the old log: until the rename above, a crash leaves the old
        // snapshot with its own log, intact. From the rename on, the new generation is
        // the one a reload reads, so records go to its log.
        let oldLog = logPath
        if logFD >= 0 { close(logFD) }
        logFD = newLog
        generation = next
        dirty = false
        logBroken = nil
        recordsSinceSnapshot = 0
        logBytes = 0
        // If this fails the rename may not be on the disk yet: the snapshot is written
        // again next time (`writeSnapshot` marks the log broken).
        try syncDirectory()
        unlink(oldLog)
        if FileManager.default.fileExists(atPath: legacyConfigPath) { unlink(legacyConfigPath) }
    }

    func syncDirectory() throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError("cannot open \(directory): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw StoreError("fsync \(directory): \(String(cString: strerror(errno)))") }
    }

    func writeAll(_ fd: Int32, _ bytes: [UInt8], _ path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw StoreError("write \(path): \(String(cString: strerror(errno)))") }
            done += n
        }
    }

    // MARK: Migration

    /// The configuration saved by earlier versions (`config.json`), if any.
    public func legacyConfiguration() throws -> (ClusterConfiguration, UInt64)? {
        guard let data = FileManager.default.contents(atPath: legacyConfigPath) else { return nil }
        let json = try JSONParser.parse(bytes: Array(data))
        var r = try ObjectReader(json, at: legacyConfigPath)
        let version = try r.int("version")
        let configuration = try ClusterConfiguration.parse(try r.required("cluster"))
        try r.finish()
        guard version >= 0 else { throw ScenarioError(legacyConfigPath, "negative version") }
        return (configuration, UInt64(version))
    }
}
