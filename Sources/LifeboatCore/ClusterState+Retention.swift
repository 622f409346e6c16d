/// Retention: the replicated state keeps told notices and finished action records up to
/// the policy's bounds (a count and an age). Pruning is part of `apply`, so every member
/// prunes the same entries at the same event, and it is counted (`prunedNotices`,
/// `prunedActions`) so that nothing disappears silently.
extension ClusterState {
    mutating func applyRetention() {
        let noticeCut = retentionCut(notices.count, policy.noticeRetention) { notices[$0].at }
        if noticeCut > 0 {
            notices.removeFirst(noticeCut)
            prunedNotices += noticeCut
            // A key is remembered while its notice is kept, or while the failure it was told
            // for is still the host's current one (the planner could raise it again).
            let kept = Set(notices.map(\.notice.key))
            noticeKeys = noticeKeys.filter { kept.contains($0) || isCurrentFailureKey($0) }
        }
        pruneNotifications()
        let actionCut = retentionCut(actionLog.count, policy.actionLogRetention) { actionLog[$0].finishedAt }
        if actionCut > 0 {
            actionLog.removeFirst(actionCut)
            prunedActions += actionCut
        }
    }

    /// How many of the oldest entries to drop: beyond the count, or older than the age.
    func retentionCut(_ count: Int, _ limit: Int, at time: (Int) -> Double) -> Int {
        var cut = max(0, count - max(0, limit))
        if policy.retentionAge > 0 {
            while cut < count, now - time(cut) > policy.retentionAge { cut += 1 }
        }
        return cut
    }

    /// `KIND:HOST#N` keys of notices the planner raises from the state while host HOST is
    /// in its N-th failure (disabled segment, failed fence, flapping).
    func isCurrentFailureKey(_ key: String) -> Bool {
        let kinds: [Notice.Kind] = [.segmentDisabled, .fenceFailed, .flapping]
        guard let colon = key.firstIndex(of: ":"), let kind = Notice.Kind(rawValue: String(key[..<colon])),
            kinds.contains(kind), let hash = key.lastIndex(of: "#"), hash > colon,
            let n = Int(key[key.index(after: hash)...])
        else { return false }
        let host = String(key[key.index(after: colon)..<hash])
        guard let h = hosts[host], let r = h.recovery, !r.finished else { return false }
        return h.failureCount == n
    }
}
