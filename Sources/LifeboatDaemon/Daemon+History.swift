import Foundation
import LifeboatCore
import LifeboatHistory
import LifeboatReplication
import LifeboatSystem

/// The durable history (`STATE_DIR/history.sqlite`): after every batch of inputs it takes
/// what the replica's history window holds beyond what is stored; after a sync round it is
/// reconciled with the adopted window; what this node missed while it was away is asked of
/// the leader of record, which answers from its own.
extension Daemon {
    /// Opens the history database; a file that is not a usable database is set aside (the
    /// peers' history fills the new one) rather than stopping the daemon.
    /// `lastError`: the error of the previous attempt, not logged again when it repeats.
    static func openHistory(directory: String, lastError: String? = nil) -> (HistoryDatabase?, String?) {
        let path = (directory as NSString).appendingPathComponent("history.sqlite")
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            return (try HistoryDatabase(path: path), nil)
        } catch where !HistoryDatabase.isCorruption(error) {
            // A full disk or an I/O error: the file (if there is one) is fine, the disk is
            // not. Keep it, and try again later (`historyStep`).
            if lastError != "\(error)" {
                Log.error("history: cannot open \(path): \(error); running without the durable history, trying again every \(Int(historyReopenInterval)) s")
            }
            return (nil, "\(error)")
        } catch {
            let aside = path + ".unusable-\(Int(Date().timeIntervalSince1970))"
            Log.error("history: \(path) is unusable (\(error)); set aside as \(aside), starting a new one")
            for suffix in ["", "-wal", "-shm"] { _ = rename(path + suffix, aside + suffix) }
            do { return (try HistoryDatabase(path: path), nil) } catch {
                Log.error("history: cannot create \(path): \(error); running without the durable history")
                return (nil, "\(error)")
            }
        }
    }

    /// How often a history that could not be opened (a full disk) is tried again.
    static let historyReopenInterval = 10.0

    /// After every batch: store what is new, reconcile after a sync round, prune now and then.
    func historyStep() {
        if history == nil, now() - historyOpenedAt >= Self.historyReopenInterval { reopenHistory() }
        guard let db = history, let r = replica else { return }
        let end = r.prunedHistory + r.history.count - 1
        if !historyReconcile, let stored = historyStoredThrough, stored >= end { return }
        do {
            let out = try db.sync(window: r.history, firstSeq: r.prunedHistory, context: recordContext(r.state), reconcile: historyReconcile)
            historyReconcile = false
            historyStoredThrough = end
            if out.superseded > 0 {
                Log.warning("history: \(out.superseded) entries this node recorded were replaced by the cluster's after a sync (kept as superseded)")
            }
            if let gap = out.gap { Log.info("history: positions \(gap.lowerBound)…\(gap.upperBound) were missed while away; asking the leader for them") }
            historyInsertedSincePrune += out.inserted
            if historyError != nil { Log.info("history: writable again") }
            historyError = nil
            // Pruned every 1,000 entries, at start, and at once when the retention changes.
            let retention = "\(r.state.policy.archiveRetention)/\(r.state.policy.archiveRetentionAge)"
            if historyInsertedSincePrune >= 1000 || retention != historyRetentionApplied {
                historyRetentionApplied = retention
                pruneHistory()
            }
        } catch {
            if historyError != "\(error)" { Log.error("history: cannot store entries: \(error)") }
            historyError = "\(error)"
            historyReconcile = true
        }
    }

    /// Opens the history that could not be opened before; what it missed meanwhile is
    /// written from the state's window, and older gaps are asked of the leader.
    func reopenHistory() {
        historyOpenedAt = now()
        let (db, error) = Self.openHistory(directory: configuration.stateDirectory, lastError: historyError)
        guard let db else {
            historyError = error
            return
        }
        history = db
        historyError = nil
        historyReconcile = true
        historyStoredThrough = nil
        Log.info("history: \(db.path) is open again")
    }

    func pruneHistory() {
        guard let db = history, let r = replica else { return }
        historyInsertedSincePrune = 0
        do {
            let p = try db.prune(maxRecords: r.state.policy.archiveRetention, maxAge: r.state.policy.archiveRetentionAge)
            if p.entries > 0 {
                Log.info("history: retention pruned \(p.entries) entries and \(p.incidents) incidents (archive_retention \(r.state.policy.archiveRetention), archive_retention_age \(Int(r.state.policy.archiveRetentionAge)) s)")
            }
        } catch { Log.error("history: pruning failed: \(error)") }
    }

    /// Asks the leader of record for the oldest range this node misses, at most every 5 s.
    func requestMissingHistoryIfDue() {
        guard let db = history, let r = replica, r.synced, r.leader != r.me, session != nil else { return }
        let t = now()
        if let last = historyRequestedAt, t - last < 5 { return }
        guard let gap = (try? db.gaps())?.first else { return }
        historyRequestedAt = t
        send(WireMessage(.historyRequest(first: gap.lowerBound, last: min(gap.upperBound, gap.lowerBound + Self.historyPartEntries - 1))))
    }

    /// Entries per answer (a few MB of JSON at most; fragments carry it).
    static let historyPartEntries = 2000

    /// The leader of record answers a member's request from its own database.
    func answerHistory(to member: MemberID, _ range: ClosedRange<Int>) {
        guard let db = history else { return }
        Task.detached { [weak self] in
            let found = try? db.entries(in: range, limit: Self.historyPartEntries)
            let part = WireMessage.HistoryPart(
                to: member, first: range.lowerBound, last: range.upperBound, firstSeq: found?.firstSeq ?? range.upperBound + 1,
                entries: found?.entries ?? [])
            await self?.send(WireMessage(.historyPart(part)))
        }
    }

    /// A peer's answer: fill the gap; what the peer does not hold either is given up on
    /// (it was pruned everywhere) and counted.
    func receivedHistory(_ p: WireMessage.HistoryPart) {
        guard let db = history, let r = replica else { return }
        do {
            if p.firstSeq > p.first { try db.dropGap(p.first...min(p.last, p.firstSeq - 1)) }
            let filled = try db.fill(p.entries, firstSeq: p.firstSeq, context: recordContext(r.state))
            Log.info("history: received \(p.entries.count) missed entries from position \(p.firstSeq) (\(filled) stored)")
            historyRequestedAt = nil  // ask for the rest at once
        } catch { Log.error("history: cannot store the missed entries: \(error)") }
    }

    /// Feeds the metrics with the entries applied since the last batch (not those of a
    /// state loaded or adopted wholesale: counters count from this process's start).
    func metricsStep() {
        guard let r = replica else { return }
        let end = r.prunedHistory + r.history.count - 1
        let seen = metricsSeenThrough ?? end
        metricsSeenThrough = end
        guard seen < end, !historyReconcile || seen >= r.prunedHistory else { return }
        for seq in max(seen + 1, r.prunedHistory)...end { metrics.observe(r.history[seq - r.prunedHistory]) }
    }

    /// `/metrics`: the gauges from this node's view, then the whole exposition.
    public func metricsText() -> String {
        guard let r = replica else { return metrics.exposition(DaemonMetrics.View()) }
        var view = DaemonMetrics.View(r)
        view.storeFailing = storeError != nil
        view.historyFailing = historyError != nil
        return metrics.exposition(view)
    }

    /// The durable history's part of `status`.
    func historyStatus() async -> JSONValue {
        guard let db = history else { return .object([("durable", .bool(false)), ("error", .optional(historyError))]) }
        guard case .success(let s) = await Self.offActor({ try db.summary() }) else {
            return .object([("durable", .bool(true)), ("error", .optional(historyError))])
        }
        return .object([
            ("durable", .bool(true)), ("path", .string(db.path)), ("entries", .int(s.entries)), ("incidents", .int(s.incidents)),
            ("open_incidents", .int(s.openIncidents)), ("pruned_entries", .int(s.prunedEntries)), ("pruned_incidents", .int(s.prunedIncidents)),
            ("pruned_until", .optional(s.prunedUntil)), ("superseded_entries", .int(s.supersededEntries)),
            ("missing", .array(s.gaps.map { .array([.int($0.lowerBound), .int($0.upperBound)]) })), ("error", .optional(historyError)),
        ])
    }
}
