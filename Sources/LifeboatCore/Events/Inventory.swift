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
    /// The instance's own tag as Nova has it (metadata `HA_Enabled=True|False`, or the
    /// `evacuable` flavor extra spec or image property).
    case instanceTagged(id: String, tag: HATag)
    case hostCapacity(host: String, capacity: Capacity)
    /// The host's aggregates and availability zone (what HA rules match on).
    case hostFacts(host: String, aggregates: [String], availabilityZone: String?)

    public var kind: String {
        switch self {
        case .instanceAdded: "instance_added"
        case .instanceRemoved: "instance_removed"
        case .instanceMoved: "instance_moved"
        case .instanceResized: "instance_resized"
        case .instanceTagged: "instance_tagged"
        case .hostCapacity: "host_capacity"
        case .hostFacts: "host_facts"
        }
    }
}

/// A server as the inventory sees it in Nova.
public struct InventoryServer: Hashable, Sendable {
    public var id: String
    public var host: String
    public var tag: HATag
    public var flavor: Capacity
    public var priority: Int
    public var project: String?

    public init(id: String, host: String, tag: HATag, flavor: Capacity, priority: Int = 0, project: String? = nil) {
        self.id = id
        self.host = host
        self.tag = tag
        self.flavor = flavor
        self.priority = priority
        self.project = project
    }

    /// Tagged HA or not tagged at all.
    public init(id: String, host: String, ha: Bool, flavor: Capacity, priority: Int = 0) {
        self.init(id: id, host: host, tag: ha ? .on : .none, flavor: flavor, priority: priority)
    }
}

/// A host's aggregates and availability zone as Nova has them.
public struct HostFacts: Hashable, Sendable {
    public var aggregates: [String]
    public var availabilityZone: String?
    public init(aggregates: [String], availabilityZone: String?) {
        self.aggregates = aggregates.sorted()
        self.availabilityZone = availabilityZone
    }
}

extension ClusterState {
    /// The changes that bring the state in step with what Nova says, for the configured
    /// hosts (servers elsewhere are not Lifeboat's). Instances with a recovery step in
    /// flight (being evacuated or restarted) are left to that step. `hosts` limits the
    /// servers and capacities considered (a refresh of one host).
    public func inventoryChanges(
        servers: [InventoryServer], capacities: [String: Capacity], facts: [String: HostFacts]? = nil, hosts only: Set<String>? = nil
    ) -> [InventoryChange] {
        var out: [InventoryChange] = []
        let busy = Set(inFlight.values.compactMap(\.action.instance))
        func inScope(_ h: String) -> Bool { hosts[h] != nil && (only == nil || only!.contains(h)) }
        var seen = Set<String>()
        for s in servers.sorted(by: { $0.id < $1.id }) where inScope(s.host) {
            seen.insert(s.id)
            guard let i = instances[s.id] else {
                var n = Instance(id: s.id, host: s.host, ha: s.tag == .on, priority: s.priority, flavor: s.flavor)
                n.tag = s.tag
                n.project = s.project
                out.append(.instanceAdded(n))
                continue
            }
            guard !busy.contains(s.id), i.state != .evacuating, i.state != .migrating else { continue }
            if i.host != s.host { out.append(.instanceMoved(id: s.id, host: s.host)) }
            if i.flavor != s.flavor { out.append(.instanceResized(id: s.id, flavor: s.flavor)) }
            if i.tag != s.tag { out.append(.instanceTagged(id: s.id, tag: s.tag)) }
        }
        for id in instances.keys.sorted() where !seen.contains(id) {
            let i = instances[id]!
            guard inScope(i.host), !busy.contains(id), i.state != .evacuating, i.state != .migrating else { continue }
            out.append(.instanceRemoved(id: id))
        }
        for (h, c) in capacities.sorted(by: { $0.key < $1.key }) where inScope(h) && hosts[h]!.capacity != c {
            out.append(.hostCapacity(host: h, capacity: c))
        }
        if let facts {
            for name in hostOrder where inScope(name) {
                let f = facts[name] ?? HostFacts(aggregates: [], availabilityZone: nil)
                let h = hosts[name]!
                if h.aggregates != f.aggregates || h.availabilityZone != f.availabilityZone {
                    out.append(.hostFacts(host: name, aggregates: f.aggregates, availabilityZone: f.availabilityZone))
                }
            }
        }
        return out
    }
}
