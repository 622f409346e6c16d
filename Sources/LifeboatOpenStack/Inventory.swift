import Foundation
import LifeboatCore

/// Reads the live inventory from Nova: every server of the configured hosts with its
/// flavor and HA tag, and each hypervisor's capacity. The changes themselves are computed
/// by the core (`ClusterState.inventoryChanges`), so a refresh never overwrites what an
/// operator configured (segments, reserves, maintenance).
///
/// The HA tag, in both conventions operators use: server metadata `HA_Enabled=True`
/// (Masakari), or `evacuable` in the flavor's extra specs or the image's properties
/// (fence_evacuate); or every server, with the `evacuate_all` policy. An optional metadata
/// `HA_Priority` (a whole number, higher first) orders evacuations.
public struct NovaInventory: Sendable {
    public let nova: NovaClient

    public init(nova: NovaClient) { self.nova = nova }

    static func truthy(_ v: String?) -> Bool {
        guard let v = v?.lowercased() else { return false }
        return ["true", "yes", "1", "on"].contains(v)
    }

    /// The servers (of `host`, or all) and capacities as the core models them.
    public func read(host: String? = nil, evacuateAll: Bool) async throws(OpenStackError)
        -> (servers: [InventoryServer], capacities: [String: Capacity])
    {
        let servers = try await nova.servers(host: host)
        var evacuableImages: [String: Bool] = [:]
        var out: [InventoryServer] = []
        for s in servers {
            guard let h = s.host, s.status != "DELETED" else { continue }
            var ha = evacuateAll || Self.truthy(s.metadata["HA_Enabled"]) || Self.truthy(s.flavor?.extra_specs?["evacuable"])
            if !ha, let image = s.imageID, !image.isEmpty {
                if evacuableImages[image] == nil {
                    let props = (try? await nova.imageProperties(image)) ?? [:]
                    var value: String? = nil
                    if case .string(let v)? = props["evacuable"] { value = v }
                    if case .bool(let b)? = props["evacuable"] { value = b ? "true" : "false" }
                    evacuableImages[image] = Self.truthy(value)
                }
                ha = evacuableImages[image] ?? false
            }
            let f = s.flavor.map { Capacity(vcpus: $0.vcpus, ramMB: $0.ram, diskGB: $0.disk) } ?? .zero
            out.append(InventoryServer(id: s.id, host: h, ha: ha, flavor: f, priority: Int(s.metadata["HA_Priority"] ?? "") ?? 0))
        }
        var capacities: [String: Capacity] = [:]
        for hv in try await nova.hypervisors() {
            let name = hv.service?.host ?? hv.hypervisor_hostname
            if let host, name != host { continue }
            guard let v = hv.vcpus, let m = hv.memory_mb, let d = hv.local_gb else { continue }
            capacities[name] = Capacity(vcpus: v, ramMB: m, diskGB: d)
        }
        return (out, capacities)
    }

    /// The changes for `state` (one host, or every configured host).
    public func changes(for state: ClusterState, host: String? = nil) async throws(OpenStackError) -> [InventoryChange] {
        let (servers, capacities) = try await read(host: host, evacuateAll: state.policy.evacuateAll)
        return state.inventoryChanges(servers: servers, capacities: capacities, hosts: host.map { [$0] })
    }
}
