import Foundation
import LifeboatCore
import LifeboatReplication
import LifeboatStore
import Testing

/// Issue 7, item 5: the whole replicated state survives a restart, checked on load.
@Suite struct StateStoreTests {
    static func directory() -> String {
        let d = NSTemporaryDirectory() + "lifeboat-store-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// A quorate state with a leader: where `recoveryInFlight`'s records start.
    static func start() throws -> ClusterState {
        var s = ClusterState(configuration: FakeCPG.configuration)
        try s.apply(.leaderChanged(holder: TermHolder(node: 1, incarnation: 3)), at: 10)
        try s.apply(.quorum(quorate: true), at: 10)
        return s
    }

    /// A state part-way through a recovery, and the records of the events after `start()`.
    static func recoveryInFlight() throws -> (ClusterState, [LogRecord]) {
        var s = try start()
        var records: [LogRecord] = []
        var t = 11.0
        func apply(_ e: Event) {
            t += 1
            do {
                try s.apply(e, at: t)
                records.append(LogRecord(epoch: s.epoch, at: t, origin: 1, event: e, result: .applied))
            } catch {
                records.append(LogRecord(epoch: s.epoch, at: t, origin: 2, event: e, result: error.stale ? .stale(error.reason) : .rejected(error.reason)))
            }
        }
        apply(.nodeLost(host: "host1"))
        apply(.actionStarted(.fence(host: "host1"), term: s.term))
        apply(.maintenance(host: "nope", on: true))  // refused: kept in the history
        apply(.actionFinished(key: "fence:host1", attempt: s.inFlight["fence:host1"]!.attempt, report: ActionReport(.off, durationMS: 120)))
        apply(.actionFinished(key: "fence:host1", attempt: Attempt(term: 1, id: 99), report: ActionReport(.off)))  // stale
        apply(.actionStarted(.forceDown(host: "host1"), term: s.term))
        return (s, records)
    }

    @Test func test_snapshotPlusLog_reloadsTheSameStateAndHistory() throws {
        let dir = Self.directory()
        let (final, records) = try Self.recoveryInFlight()
        let start = try Self.start()
        let store = StateStore(directory: dir)
        #expect(try store.load() == nil)
        try store.writeSnapshot(state: start, history: [], prunedHistory: 4)
        for r in records { try store.append(r) }
        try store.sync()
        let loaded = try #require(try StateStore(directory: dir).load())
        #expect(loaded.state == final)
        #expect(loaded.history.count == records.count)
        #expect(loaded.history.contains { if case .stale = $0.result { true } else { false } })
        #expect(loaded.prunedHistory == 4)
        #expect(loaded.state.hosts["host1"]!.fence == .off && loaded.state.inFlight["force_down:host1"] != nil)
    }

    @Test func test_tornTail_isCut_andTheRestIsKept() throws {
        let dir = Self.directory()
        let (_, records) = try Self.recoveryInFlight()
        let start = try Self.start()
        let store = StateStore(directory: dir)
        try store.writeSnapshot(state: start, history: [], prunedHistory: 0)
        for r in records { try store.append(r) }
        try store.sync()
        let log = store.logPath
        let size = try FileManager.default.attributesOfItem(atPath: log)[.size] as! Int
        let fd = open(log, O_WRONLY)
        ftruncate(fd, off_t(size - 5))  // a crash in the middle of the last record
        close(fd)
        let loaded = try #require(try StateStore(directory: dir).load())
        #expect(loaded.history.count == records.count - 1)
        #expect(loaded.notes.contains { $0.contains("cut at byte") })
        #expect(loaded.state.inFlight["force_down:host1"] == nil && loaded.state.hosts["host1"]!.fence == .off)
        let after = try FileManager.default.attributesOfItem(atPath: log)[.size] as! Int
        #expect(after < size - 5)
    }

    @Test func test_corruptSnapshot_isSetAside_andTheNodeStartsEmpty() throws {
        let dir = Self.directory()
        let store = StateStore(directory: dir)
        try store.writeSnapshot(state: ClusterState(configuration: FakeCPG.configuration), history: [], prunedHistory: 0)
        var bytes = [UInt8](FileManager.default.contents(atPath: store.snapshotPath)!)
        bytes[bytes.count - 10] ^= 0x20
        FileManager.default.createFile(atPath: store.snapshotPath, contents: Data(bytes))
        let loaded = try #require(try StateStore(directory: dir).load())
        #expect(loaded.state.hosts.isEmpty && loaded.state.configVersion == 0)
        #expect(loaded.notes.contains { $0.contains("checksum mismatch") && $0.contains("set aside") })
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(names.contains { $0.hasPrefix("snapshot.lbs.corrupt-") })
    }

    @Test func test_recordThatDoesNotReplay_stopsTheReplayThere() throws {
        let dir = Self.directory()
        let store = StateStore(directory: dir)
        let start = ClusterState(configuration: FakeCPG.configuration)
        try store.writeSnapshot(state: start, history: [], prunedHistory: 0)
        try store.append(LogRecord(epoch: 1, at: 1, origin: 1, event: .reserved(host: "host2", on: true), result: .applied))
        try store.append(LogRecord(epoch: 5, at: 2, origin: 1, event: .reserved(host: "host3", on: true), result: .applied))
        try store.sync()
        let loaded = try #require(try StateStore(directory: dir).load())
        #expect(loaded.state.hosts["host2"]!.reserved)
        #expect(loaded.notes.contains { $0.contains("the record says 5") })
    }

    @Test func test_newSnapshot_startsANewLogGeneration() throws {
        let dir = Self.directory()
        let store = StateStore(directory: dir)
        var s = ClusterState(configuration: FakeCPG.configuration)
        try store.writeSnapshot(state: s, history: [], prunedHistory: 0)
        try s.apply(.reserved(host: "host2", on: true), at: 1)
        try store.append(LogRecord(epoch: 1, at: 1, origin: 1, event: .reserved(host: "host2", on: true), result: .applied))
        try store.sync()
        let first = store.logPath
        try store.writeSnapshot(state: s, history: [], prunedHistory: 0)
        #expect(!FileManager.default.fileExists(atPath: first))
        #expect(store.logPath != first && store.recordsSinceSnapshot == 0)
        let loaded = try #require(try StateStore(directory: dir).load())
        #expect(loaded.state == s)
    }

    /// A full disk (issue 13): writes to /dev/full fail with ENOSPC as on a full file system.
    /// After a failed append the log is not written again (a gap would cut a reload there);
    /// a failed snapshot leaves none of its files behind; the first snapshot that succeeds
    /// holds everything, and a reload gives the whole state.
    @Test func test_fullDisk_stopsTheLog_untilASnapshotHoldsEverything() throws {
        let dir = Self.directory()
        let (final, records) = try Self.recoveryInFlight()
        let store = StateStore(directory: dir)
        #expect(try store.load() == nil)
        #expect(symlink("/dev/full", store.logPath) == 0)
        #expect(throws: StateStore.StoreError.self) { try store.append(records[0]) }
        let broken = try #require(store.logBroken)
        #expect(broken.contains("No space left on device"), "\(broken)")
        #expect(store.wantsCompaction)
        for r in records.dropFirst() { try store.append(r) }  // skipped, not thrown
        try store.sync()
        #expect(store.logBroken == broken && store.recordsSinceSnapshot == 0)

        // The disk is still full when the snapshot is tried.
        let tmp = store.snapshotPath + ".tmp"
        #expect(symlink("/dev/full", tmp) == 0)
        var state = try Self.start()
        #expect(throws: StateStore.StoreError.self) { try store.writeSnapshot(state: final, history: [], prunedHistory: 0) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["events-0.log"])
        #expect(store.logBroken != nil && store.generation == 0)

        // Room again: the snapshot holds the whole state, the log goes on from there.
        try store.writeSnapshot(state: final, history: [], prunedHistory: records.count)
        #expect(store.logBroken == nil && !store.wantsCompaction && store.generation == 1)
        #expect(!FileManager.default.fileExists(atPath: dir + "/events-0.log"))
        state = final
        try state.apply(.reserved(host: "host2", on: true), at: 30)
        try store.append(LogRecord(epoch: state.epoch, at: 30, origin: 1, event: .reserved(host: "host2", on: true), result: .applied))
        try store.sync()
        let loaded = try #require(try StateStore(directory: dir).load())
        #expect(loaded.state == state && loaded.prunedHistory == records.count && loaded.history.count == 1)
    }

    /// A snapshot that fails on a whole log (here: a state adopted from a peer, written
    /// while the disk is full) stops the log too: records of the adopted state appended to
    /// the old generation would not replay from the old snapshot.
    @Test func test_aFailedSnapshot_stopsTheLog_untilOneSucceeds() throws {
        let dir = Self.directory()
        let (adopted, records) = try Self.recoveryInFlight()
        let store = StateStore(directory: dir)
        try store.writeSnapshot(state: try Self.start(), history: [], prunedHistory: 0)
        #expect(symlink("/dev/full", store.snapshotPath + ".tmp") == 0)
        #expect(throws: StateStore.StoreError.self) { try store.writeSnapshot(state: adopted, history: [], prunedHistory: 0) }
        #expect(store.logBroken != nil && store.wantsCompaction)
        try store.append(records[0])  // skipped: it belongs to the adopted state
        #expect(store.recordsSinceSnapshot == 0)
        try store.writeSnapshot(state: adopted, history: [], prunedHistory: 0)
        #expect(store.logBroken == nil)
        #expect(try #require(try StateStore(directory: dir).load()).state == adopted)
    }

    @Test func test_legacyConfiguration_isMigrated() throws {
        let dir = Self.directory()
        let text = JSONWriter.write(.object([("version", .number(4)), ("cluster", FakeCPG.configuration.json)]))
        FileManager.default.createFile(atPath: dir + "/config.json", contents: Data(text.utf8))
        let store = StateStore(directory: dir)
        #expect(try store.load() == nil)
        let legacy = try #require(try store.legacyConfiguration())
        #expect(legacy.0 == FakeCPG.configuration && legacy.1 == 4)
    }
}
