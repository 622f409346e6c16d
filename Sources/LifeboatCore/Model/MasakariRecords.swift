/// What the Masakari-compatible API needs to name things the way Masakari's clients expect:
/// a uuid in paths, an integer `id` as the pagination marker (stable, never reused) and
/// creation and update times. Part of the configuration, so it survives restarts and is
/// the same on every node; an empty identity is filled by `apply` (`ClusterState.fillIdentities`).
public struct RecordIdentity: Hashable, Sendable {
    /// Empty: not set yet (a configuration file may leave it out).
    public var uuid: String = ""
    /// Masakari's integer `id`; 0: not assigned yet.
    public var serial: Int = 0
    /// Cluster time; 0: not set yet.
    public var createdAt: Double = 0
    public var updatedAt: Double = 0

    public init(uuid: String = "", serial: Int = 0, createdAt: Double = 0, updatedAt: Double = 0) {
        self.uuid = uuid
        self.serial = serial
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// A uuid derived from a name, for records an operator configured without one: the same
    /// on every node and across restarts (RFC 9562 version 8, "custom").
    public static func derivedUUID(_ kind: String, _ name: String) -> String {
        let bytes = Array("lifeboat/\(kind)/\(name)".utf8)
        var words: [UInt32] = []
        for salt in 0..<4 { words.append(CRC32C.checksum(bytes, continuing: UInt32(0x9E37_79B9 &* UInt32(salt + 1)))) }
        func hex(_ v: UInt32, _ digits: Int) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: max(0, digits - s.count)) + s
        }
        let w1 = (words[1] & 0xFFFF_0FFF) | 0x0000_8000  // version 8
        let w2 = (words[2] & 0x3FFF_FFFF) | 0x8000_0000  // variant 10
        return "\(hex(words[0], 8))-\(hex(w1 >> 16, 4))-\(hex(w1 & 0xFFFF, 4))-\(hex(w2 >> 16, 4))-\(hex(w2 & 0xFFFF, 4))\(hex(words[3], 8))"
    }

    /// A canonical lowercase uuid (8-4-4-4-12 hex digits).
    public static func isUUID(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.map(\.count) == [8, 4, 4, 4, 12] else { return false }
        return parts.allSatisfy { $0.allSatisfy { $0.isHexDigit } }
    }
}

/// A Masakari notification type.
public enum NotificationType: String, Sendable, CaseIterable {
    case computeHost = "COMPUTE_HOST"
    case vm = "VM"
    case process = "PROCESS"
}

/// A notification's status, as Masakari reports it.
public enum NotificationStatus: String, Sendable, CaseIterable {
    case new, running, error, failed, ignored, finished

    public var isOpen: Bool { self == .new || self == .running || self == .error }
}

/// A notification a monitor (or an operator) posted, and what became of it. The status
/// follows the recovery Lifeboat runs for it (`ClusterState.updateNotifications`), never a
/// timer of its own: a notification alone never skips fencing.
public struct NotificationRecord: Hashable, Sendable {
    public var identity: RecordIdentity
    public var type: NotificationType
    public var hostname: String
    /// As the monitor sent it, normalized to Masakari's wire form (no zone, microseconds).
    public var generatedTime: String
    /// The same, as seconds since the epoch (UTC).
    public var generatedAt: Double
    /// In the order the monitor sent it.
    public var payload: [Pair] { didSet { fingerprint = Self.fingerprint(payload) } }
    /// A hash of the payload that ignores the pairs' order, the same in every process
    /// (FNV-1a, not Swift's seeded `Hasher`): the duplicate check compares it first.
    public private(set) var fingerprint: UInt64
    public var status: NotificationStatus = .new
    /// Why it ended as it did (or what it waits for).
    public var message: String? = nil
    /// The host's and segment's uuids when it arrived.
    public var sourceHostUUID: String = ""
    public var segmentUUID: String = ""
    /// What it set off: the host recovery (by the host's failure count), the process or
    /// instance it names. Nil: nothing (ignored).
    public var recovery: Int? = nil
    /// Cluster time at which the steps it follows began (for its workflow details).
    public var since: Double = 0

    public struct Pair: Hashable, Sendable {
        public var key: String
        public var value: String
        public init(_ key: String, _ value: String) {
            self.key = key
            self.value = value
        }
    }

    public init(identity: RecordIdentity, type: NotificationType, hostname: String, generatedTime: String, generatedAt: Double, payload: [Pair]) {
        self.identity = identity
        self.type = type
        self.hostname = hostname
        self.generatedTime = generatedTime
        self.generatedAt = generatedAt
        self.payload = payload
        self.fingerprint = Self.fingerprint(payload)
    }

    static func fingerprint(_ payload: [Pair]) -> UInt64 {
        var sum: UInt64 = 0
        for p in payload {
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in p.key.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            h = (h ^ 0xff) &* 0x100_0000_01b3
            for b in p.value.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            sum &+= h
        }
        return sum
    }

    public func payloadValue(_ key: String) -> String? { payload.first { $0.key == key }?.value }

    /// The payloads are equal as sets of pairs, whatever their order (Masakari compares
    /// type, host and payload for duplicates). The fingerprint rules most out at the cost of
    /// one integer comparison; payloads are a handful of pairs.
    func samePayload(as other: NotificationRecord) -> Bool {
        fingerprint == other.fingerprint && payload.count == other.payload.count && payload.allSatisfy { p in other.payload.contains(p) }
    }
}

/// Masakari's host create or update: which cluster host, in which segment, with its
/// Masakari fields. The node id and fence topology come from the cluster's configuration
/// (a Masakari client cannot give them), so only a host the cluster knows can be added.
public struct HostRegistration: Hashable, Sendable {
    public var uuid: String
    public var name: String
    public var segment: String
    public var reserved: Bool
    public var maintenance: Bool
    public var type: String
    public var controlAttributes: String?

    public init(uuid: String, name: String, segment: String, reserved: Bool, maintenance: Bool, type: String, controlAttributes: String?) {
        self.uuid = uuid
        self.name = name
        self.segment = segment
        self.reserved = reserved
        self.maintenance = maintenance
        self.type = type
        self.controlAttributes = controlAttributes
    }
}
