/// The live inventory applied: what Nova says about instances and host capacities, as one
/// batch. Validated whole first (a refused batch changes nothing); the leader computes it
/// with `inventoryChanges`, so a refusal only means the state moved meanwhile and the next
/// refresh computes it again.
extension ClusterState {
    func validateInventory(_ changes: [InventoryChange]) throws(EventRejected) {
        var ids = Set(instances.keys)
        let busy = Set(inFlight.values.compactMap(\.action.instance))
        func flavorOK(_ c: Capacity) -> Bool { c.isNonNegative && c.isBounded }
        for c in changes {
            switch c {
            case .instanceAdded(let i):
                guard !i.id.isEmpty, ids.insert(i.id).inserted else { throw EventRejected("inventory: instance \(i.id) already exists") }
                try requireHost(i.host)
                guard flavorOK(i.flavor) else { throw EventRejected("inventory: instance \(i.id) has an impossible flavor") }
            case .instanceRemoved(let id), .instanceMoved(let id, _), .instanceResized(let id, _), .instanceTagged(let id, _):
                guard let i = instances[id] else { throw EventRejected("inventory: unknown instance '\(id)'") }
                if case .instanceTagged = c { continue }
                guard !busy.contains(id), i.state != .evacuating, i.state != .migrating else {
                    throw EventRejected("inventory: instance \(id) has a recovery step in flight")
                }
                if case .instanceMoved(_, let h) = c { try requireHost(h) }
                if case .instanceResized(_, let f) = c, !flavorOK(f) { throw EventRejected("inventory: impossible flavor for \(id)") }
            case .hostCapacity(let h, let cap):
                try requireHost(h)
                guard flavorOK(cap) else { throw EventRejected("inventory: impossible capacity for \(h)") }
            case .hostFacts(let h, let aggregates, _):
                try requireHost(h)
                guard !aggregates.contains("") else { throw EventRejected("inventory: an empty aggregate name for \(h)") }
            }
        }
    }

    mutating func applyInventory(_ changes: [InventoryChange]) {
        var touched = Set<String>()
        var protection = Set<String>()
        for c in changes {
            switch c {
            case .instanceAdded(let i):
                var n = i
                n.state = .active
                n.evacuatingTo = nil
                n.evacuationInterruptedAt = nil
                instances[i.id] = n
                instancesByHost[i.host, default: []].insert(i.id)
                hosts[i.host]!.used += i.flavor
                // An instance found on a host that is already fenced is its recovery's too.
                touched.insert(i.host)
                protection.insert(i.id)
            case .instanceRemoved(let id):
                let i = instances.removeValue(forKey: id)!
                instancesByHost[i.host]?.remove(id)
                hosts[i.host]!.used -= i.flavor
                failedInstances.remove(id)
                touched.insert(i.host)
            case .instanceMoved(let id, let to):
                let i = instances[id]!
                instancesByHost[i.host]?.remove(id)
                hosts[i.host]!.used -= i.flavor
                instancesByHost[to, default: []].insert(id)
                hosts[to]!.used += i.flavor
                touched.formUnion([i.host, to])
                instances[id]!.host = to
                if i.state == .stopped { instances[id]!.state = .active }  // it runs elsewhere
                instances[id]!.gaveUpAt = nil  // moved by someone else: not stranded where it was
                failedInstances.remove(id)
                if instances[id]!.state == .failed { instances[id]!.state = .active }
                protection.insert(id)
            case .instanceResized(let id, let flavor):
                let i = instances[id]!
                hosts[i.host]!.used = hosts[i.host]!.used - i.flavor + flavor
                instances[id]!.flavor = flavor
            case .instanceTagged(let id, let tag):
                instances[id]!.tag = tag
                protection.insert(id)
            case .hostCapacity(let h, let cap):
                hosts[h]!.capacity = cap
            case .hostFacts(let h, let aggregates, let zone):
                hosts[h]!.aggregates = aggregates
                hosts[h]!.availabilityZone = zone
                protection.formUnion(instancesByHost[h] ?? [])
            }
        }
        refreshProtection(protection.sorted())
        for h in touched.sorted() { refreshDrain(h) }
        for h in touched.sorted() {
            if let r = hosts[h]?.recovery, r.finished, hosts[h]!.fence.isOff, r.forceDown == .done, !hosts[h]!.member {
                hosts[h]!.recovery!.finished = false  // something new to move
            }
            refreshRecovery(h)
        }
    }
}
