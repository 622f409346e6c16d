/// How well the cluster could absorb a failure now: what operators watch before one
/// happens (the metrics' reserve and unprotected-instance gauges).
extension ClusterState {
    /// Per segment, the HA instances that would find no room if their host failed now: for
    /// every healthy host, its HA instances are placed (as an evacuation would, by the
    /// segment's recovery method, highest priority first) on the other hosts, and the worst
    /// host counts. Segments without hosts are absent.
    public func unprotectedHAInstances() -> [String: Int] {
        var worst: [String: Int] = [:]
        for (segment, names) in hostsBySegment {
            var n = 0
            for name in names {
                let h = hosts[name]!
                guard h.member, h.recovery == nil, !h.maintenance else { continue }
                let mine = instances(on: name).filter { i in (i.ha || policy.evacuateAll) && i.state == .active }
                guard !mine.isEmpty else { continue }
                let ordered = mine.sorted { a, b in (b.priority, a.id) < (a.priority, b.id) }
                let tiers = EvacuationPlacement.targetTiers(for: name, in: self)
                let placed = EvacuationPlacement.place(ordered.map { ($0, tiers) }, in: self)
                n = max(n, placed.filter { $0 == nil }.count)
            }
            worst[segment] = n
        }
        return worst
    }

    /// Per segment, the free capacity of its reserved hosts that could take instances now.
    public func reservedFree() -> [String: Capacity] {
        var free: [String: Capacity] = [:]
        for (segment, names) in hostsBySegment {
            var sum = Capacity.zero
            for name in names {
                let h = hosts[name]!
                if h.reserved, EvacuationPlacement.isEligibleTarget(h) { sum += h.free }
            }
            free[segment] = sum
        }
        return free
    }
}
