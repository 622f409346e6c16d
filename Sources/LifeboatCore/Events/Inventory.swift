/// What the leader learned from Nova, as changes to the instances and hosts the core
/// tracks: the live inventory. Applied as one batch (`Event.inventory`), refused whole if
/// any change does not fit the state. An operator's settings (segments, reserves,
/// maintenance, priorities set in the configuration) are never touched by it.
public enum InventoryChange: Hashable, Sendable {
    case instanceAdded(Instance)
    case instanceRemoved(id: String)
    /// Moved by someone else (a live migration, an evacuation not ours).
    case instanceMoved(id: String, host: String)
    case instanceResized(id: String, flavor: Capacity)
    /// The HA tag as Nova has it (metadata `HA_Enabled`, the `evacuable` flavor extra spec or
    /// image property, or the `evacuate_all` policy).
    case instanceTagged(id: String, ha: Bool)
    case hostCapacity(host: String, capacity: Capacity)

    public var kind: String {
        switch self {
        case .instanceAdded: "instance_added"
        case .instanceRemoved: "instance_removed"
        case .instanceMoved: "instance_moved"
        case .instanceResized: "instance_resized"
        case .instanceTagged: "instance_tagged"
        case .hostCapacity: "host_capacity"
        }
    }
}

/// A server as the inventory sees it in Nova.
public struct InventoryServer: Hashable, Sendable {
    public var id: String
    public var host: String
    public var ha: Bool
    public var flavor: Capacity
    public var priority: Int

    public init(id: String, host: String, ha: Bool, flavor: Capacity, priority: Int = 0) {
        self.id = id
        self.host = host
        self.ha = ha
        self.flavor = flavor
        self.priority = priority
    }
}

extension ClusterState {
    /// The changes that bring the state in step with what Nova says, for the configured
    /// hosts (servers elsewhere are not Lifeboat's). Instances with a recovery step in
    /// flight (being evacuated or restarted) are left to that step. `hosts` limits the
    /// servers and capacities considered (a refresh of one host).
    public func inventoryChanges(servers: [InventoryServer], capacities: [String: Capacity], hosts only: Set<String>? = nil)
        -> [InventoryChange]
    {
        var out: [InventoryChange] = []
        let busy = Set(inFlight.values.compactMap(\.action.instance))
        func inScope(_ h: String) -> Bool { hosts[h] != nil && (only == nil || only!.contains(h)) }
        var seen = Set<String>()
        for s in servers.sorted(by: { $0.id < $1.id }) where inScope(s.host) {
            seen.insert(s.id)
            guard let i = instances[s.id] else {
                out.append(.instanceAdded(Instance(id: s.id, host: s.host, ha: s.ha, priority: s.priority, flavor: s.flavor)))
                continue
            }
            guard !busy.contains(s.id), i.state != .evacuating else { continue }
            if i.host != s.host { out.append(.instanceMoved(id: s.id, host: s.host)) }
            if i.flavor != s.flavor { out.append(.instanceResized(id: s.id, flavor: s.flavor)) }
            if i.ha != s.ha { out.append(.instanceTagged(id: s.id, ha: s.ha)) }
        }
        for id in instances.keys.sorted() where !seen.contains(id) {
            let i = instances[id]!
            guard inScope(i.host), !busy.contains(id), i.state != .evacuating else { continue }
            out.append(.instanceRemoved(id: id))
        }
        for (h, c) in capacities.sorted(by: { $0.key < $1.key }) where inScope(h) && hosts[h]!.capacity != c {
            out.append(.hostCapacity(host: h, capacity: c))
        }
        return out
    }
}
