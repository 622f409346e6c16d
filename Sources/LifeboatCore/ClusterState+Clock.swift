/// Cluster time. Every event carries its sender's estimate of cluster time; the holder
/// of the current term is the clock's authority, so its stamps move `now` forward as they
/// are. A stamp from any other node is accepted only up to `Policy.clockSkewLimit` seconds
/// ahead of `now`: a node whose clock runs ahead cannot drag the storm, flap and failure
/// windows along (it only ever moves time by the bound, and nodes calibrate their
/// estimates on the holder's stamps, see `Replica.clockOffset`). `now` never goes back.
extension ClusterState {
    /// The time at which an event stamped `stamp` by `node` is applied.
    public func effectiveTime(stamp: Double, from node: UInt32) -> Double {
        guard stamp.isFinite else { return now }
        if let holder = termHolder, holder.node == node { return stamp }
        return min(stamp, now + policy.clockSkewLimit)
    }

    /// Moves cluster time forward (never back): a sync round anchors it to the lower
    /// median of its members' clocks, which every member computes alike.
    public mutating func advanceClock(to t: Double) {
        if t.isFinite { now = max(now, t) }
    }

    /// CRC-32C of the state's encoding: equal states have equal digests on every node.
    public var digest: UInt32 { CRC32C.checksum(Array(JSONWriter.write(json, timeKeys: []).utf8)) }
}
