import Foundation
import LifeboatCore

/// Reads the live inventory from Nova: every server of the configured hosts with its
/// flavor and HA tag, and each hypervisor's capacity. The changes themselves are computed
/// by the core (`ClusterState.inventoryChanges`), so a refresh never overwrites what an
/// operator configured (segments, reserves, maintenance).
///
/// The HA tag, in both conventions operators use: server metadata `HA_Enabled=True` (or
/// `False`, an explicit opt-out) (Masakari), or `evacuable` in the flavor's extra specs or
/// the image's properties (fence_evacuate). The core decides from the tag, the HA rules
/// (which match the server's project and its host's aggregates and zone, read here too) and
/// `evacuate_all`. An optional metadata `HA_Priority` (a whole number, higher first)
/// orders evacuations.
public struct NovaInventory: Sendable {
    public let nova: NovaClient

    public init(nova: NovaClient) { self.nova = nova }

    static func truthy(_ v: String?) -> Bool {
        guard let v = v?.lowercased() else { return false }
        return ["true", "yes", "1", "on"].contains(v)
    }

    static func falsy(_ v: String?) -> Bool {
        guard let v = v?.lowercased() else { return false }
        return ["false", "no", "0", "off"].contains(v)
    }

    /// The servers (of `host`, or all), capacities, and each host's aggregates and zone, as
    /// the core models them. A server's own tag: `HA_Enabled` true or false in its metadata
    /// decides; otherwise an `evacuable` flavor extra spec or image property tags it.
    public func read(host: String? = nil) async throws(OpenStackError)
        -> (servers: [InventoryServer], capacities: [String: Capacity], facts: [String: HostFacts])
    {
        let servers = try await nova.servers(host: host)
        var evacuableImages: [String: Bool] = [:]
        var out: [InventoryServer] = []
        for s in servers {
            guard let h = s.host, s.status != "DELETED" else { continue }
            var tag: HATag = .none
            if Self.truthy(s.metadata["HA_Enabled"]) { tag = .on }
            else if Self.falsy(s.metadata["HA_Enabled"]) { tag = .off }
            else if Self.truthy(s.flavor?.extra_specs?["evacuable"]) { tag = .on }
            else if let image = s.imageID, !image.isEmpty {
                if evacuableImages[image] == nil {
                    let props = (try? await nova.imageProperties(image)) ?? [:]
                    var value: String? = nil
                    if case .string(let v)? = props["evacuable"] { value = v }
                    if case .bool(let b)? = props["evacuable"] { value = b ? "true" : "false" }
                    evacuableImages[image] = Self.truthy(value)
                }
                if evacuableImages[image] == true { tag = .on }
            }
            let f = s.flavor.map { Capacity(vcpus: $0.vcpus, ramMB: $0.ram, diskGB: $0.disk) } ?? .zero
            out.append(
                InventoryServer(id: s.id, host: h, tag: tag, flavor: f, priority: Int(s.metadata["HA_Priority"] ?? "") ?? 0, project: s.projectID))
        }
        var capacities: [String: Capacity] = [:]
        for hv in try await nova.hypervisors() {
            let name = hv.service?.host ?? hv.hypervisor_hostname
            if let host, name != host { continue }
            guard let v = hv.vcpus, let m = hv.memory_mb, let d = hv.local_gb else { continue }
            capacities[name] = Capacity(vcpus: v, ramMB: m, diskGB: d)
        }
        // Aggregates name the hosts in them; an aggregate with an availability zone puts
        // its hosts in that zone.
        var aggregates: [String: [String]] = [:]
        var zones: [String: String] = [:]
        for a in try await nova.aggregates() {
            for h in a.hosts ?? [] where host == nil || h == host {
                aggregates[h, default: []].append(a.name)
                if let z = a.availability_zone ?? a.metadata?["availability_zone"], zones[h] == nil { zones[h] = z }
            }
        }
        var facts: [String: HostFacts] = [:]
        for h in Set(aggregates.keys).union(capacities.keys) { facts[h] = HostFacts(aggregates: aggregates[h] ?? [], availabilityZone: zones[h]) }
        return (out, capacities, facts)
    }

    /// The changes for `state` (one host, or every configured host).
    public func changes(for state: ClusterState, host: String? = nil) async throws(OpenStackError) -> [InventoryChange] {
        let (servers, capacities, facts) = try await read(host: host)
        return state.inventoryChanges(servers: servers, capacities: capacities, facts: facts, hosts: host.map { [$0] })
    }
}
