import Foundation
import LifeboatCore

/// What lifeboatd nodes multicast to each other through CPG (agreed order). Versioned and
/// size-bounded; anything else is refused with a reason and changes nothing.
public struct WireMessage: Codable, Sendable, Equatable {
    /// The protocol version this build speaks.
    public static let currentVersion = 1
    /// Larger messages are refused before they are parsed.
    public static let maxBytes = 1 << 20

    public var v: Int
    public var body: Body

    public init(_ body: Body) {
        v = Self.currentVersion
        self.body = body
    }

    public enum Body: Codable, Sendable, Equatable {
        /// A state-changing input, applied by every member in delivery order. `at` is the
        /// origin's clock, so every member applies it at the same time; `request` lets the
        /// origin answer the operator once its own message came back.
        case event(Event, at: Double, request: UInt64?)
        /// After a membership change with joiners: what this member's state is, so every
        /// member picks the same state to continue from.
        case offer(members: [UInt32], quorate: Bool, configVersion: UInt64, epoch: UInt64)
        /// The chosen member's state, sent when the last offer of a round arrived.
        case snapshot(members: [UInt32], state: ClusterState, leader: UInt32?, history: [HistoryEntry])
    }

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(self)) ?? Data())
    }

    public static func decode(_ bytes: [UInt8]) throws(WireError) -> WireMessage {
        guard bytes.count <= maxBytes else { throw .tooLarge(bytes.count) }
        struct VersionOnly: Decodable { var v: Int }
        let data = Data(bytes)
        let version: Int
        do { version = try JSONDecoder().decode(VersionOnly.self, from: data).v } catch {
            throw .malformed("not a Lifeboat message (\(bytes.count) bytes)")
        }
        guard version == currentVersion else { throw .unknownVersion(version) }
        do { return try JSONDecoder().decode(WireMessage.self, from: data) } catch {
            throw .malformed("version \(version) message does not decode: \(error)")
        }
    }
}

public enum WireError: Error, CustomStringConvertible, Equatable, Sendable {
    case tooLarge(Int)
    case unknownVersion(Int)
    case malformed(String)

    public var description: String {
        switch self {
        case .tooLarge(let n): "message of \(n) bytes exceeds the \(WireMessage.maxBytes)-byte limit"
        case .unknownVersion(let v): "message of protocol version \(v) (this build speaks \(WireMessage.currentVersion))"
        case .malformed(let why): why
        }
    }
}

/// One applied event in the cluster's history: what happened, when, where it came from.
public struct HistoryEntry: Codable, Sendable, Equatable {
    public var epoch: UInt64
    public var at: Double
    /// The node whose message carried it (0: derived from a membership change).
    public var origin: UInt32
    public var event: String
    /// Why the core refused it, if it did.
    public var rejected: String?
}
