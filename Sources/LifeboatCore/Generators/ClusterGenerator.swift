/// Builds random but valid clusters and failure sequences, for the planning benchmark and
/// the property tests.
public struct ClusterGenerator {
    public var hosts: Int
    public var instances: Int
    public var hostsPerSegment: Int
    /// Share of each segment's hosts that are reserved.
    public var reservedShare: Double = 0.1

    public init(hosts: Int, instances: Int, hostsPerSegment: Int = 100) {
        self.hosts = hosts
        self.instances = instances
        self.hostsPerSegment = max(1, hostsPerSegment)
    }

    public static let flavors = [
        Capacity(vcpus: 1, ramMB: 2048, diskGB: 20), Capacity(vcpus: 2, ramMB: 4096, diskGB: 40),
        Capacity(vcpus: 4, ramMB: 8192, diskGB: 80), Capacity(vcpus: 8, ramMB: 16384, diskGB: 160),
    ]

    /// A cluster whose hosts are filled to roughly `fill` of their capacity.
    public func makeScenario(seed: UInt64, fill: Double = 0.5) -> Scenario {
        var rng = SplitMix64(seed: seed)
        let methods = RecoveryMethod.allCases
        let segmentCount = (hosts + hostsPerSegment - 1) / hostsPerSegment
        let segments = (0..<segmentCount).map { n in
            Segment(name: "seg-\(n)", recoveryMethod: methods[n % methods.count])
        }
        // Size hosts so that the instances take about `fill` of the total capacity.
        let perHost = max(1, Int((Double(instances) / Double(max(1, hosts)) * 3.75 / fill).rounded(.up)))
        let capacity = Capacity(vcpus: perHost, ramMB: perHost * 2048, diskGB: perHost * 20)
        var hostList: [Host] = []
        for n in 0..<hosts {
            let seg = n / hostsPerSegment
            let reserved = Double(n % hostsPerSegment) >= Double(hostsPerSegment) * (1 - reservedShare)
            hostList.append(
                Host(
                    name: "host-\(n)", segment: "seg-\(seg)", nodeID: UInt32(n + 1), reserved: reserved,
                    capacity: capacity))
        }
        var used = [Capacity](repeating: .zero, count: hosts)
        var instanceList: [Instance] = []
        let ordinary = (0..<hosts).filter { !hostList[$0].reserved }
        for n in 0..<instances where !ordinary.isEmpty {
            let flavor = Self.flavors[Int(rng.next() % UInt64(Self.flavors.count))]
            var h = ordinary[Int(rng.next() % UInt64(ordinary.count))]
            var tries = 0
            while !capacity.holds(used[h] + flavor) && tries < 8 {
                h = ordinary[Int(rng.next() % UInt64(ordinary.count))]
                tries += 1
            }
            guard capacity.holds(used[h] + flavor) else { continue }
            used[h] += flavor
            instanceList.append(
                Instance(
                    id: "vm-\(n)", host: hostList[h].name, ha: rng.next() % 10 != 0,
                    priority: Int(rng.next() % 4), flavor: flavor))
        }
        var policy = Policy()
        policy.maxConcurrentHostRecoveries = max(2, hosts)
        policy.stormThreshold = 1
        return Scenario(segments: segments, hosts: hostList, instances: instanceList, policy: policy, events: [])
    }
}
