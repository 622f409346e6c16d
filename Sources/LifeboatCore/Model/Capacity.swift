/// Resources of a host, or the footprint of an instance's flavor.
public struct Capacity: Hashable, Sendable {
    public var vcpus: Int
    public var ramMB: Int
    public var diskGB: Int

    public init(vcpus: Int, ramMB: Int, diskGB: Int) {
        self.vcpus = vcpus
        self.ramMB = ramMB
        self.diskGB = diskGB
    }

    public static let zero = Capacity(vcpus: 0, ramMB: 0, diskGB: 0)

    public static func + (a: Capacity, b: Capacity) -> Capacity {
        Capacity(vcpus: a.vcpus + b.vcpus, ramMB: a.ramMB + b.ramMB, diskGB: a.diskGB + b.diskGB)
    }

    public static func - (a: Capacity, b: Capacity) -> Capacity {
        Capacity(vcpus: a.vcpus - b.vcpus, ramMB: a.ramMB - b.ramMB, diskGB: a.diskGB - b.diskGB)
    }

    public static func += (a: inout Capacity, b: Capacity) { a = a + b }
    public static func -= (a: inout Capacity, b: Capacity) { a = a - b }

    /// True when `other` fits into `self` in every dimension.
    public func holds(_ other: Capacity) -> Bool {
        other.vcpus <= vcpus && other.ramMB <= ramMB && other.diskGB <= diskGB
    }

    public var isNonNegative: Bool { vcpus >= 0 && ramMB >= 0 && diskGB >= 0 }

    /// Largest value accepted in any dimension (10^12): sums over a whole cluster of such
    /// values cannot overflow, whatever a file or a peer sends.
    public static let bound = 1_000_000_000_000
    public var isBounded: Bool { vcpus <= Self.bound && ramMB <= Self.bound && diskGB <= Self.bound }

    public var summary: String { "\(vcpus) vCPU, \(ramMB) MB RAM, \(diskGB) GB disk" }
}
