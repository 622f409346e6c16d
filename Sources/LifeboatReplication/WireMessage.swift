import Foundation
import LifeboatCore

/// A lifeboatd process in the CPG group: its node and its process id. Sync rounds,
/// offers and the leader of record are keyed by both, so that two processes on one node
/// (a probe, a second lifeboatd) are never taken for one.
public struct MemberID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var node: UInt32
    public var pid: UInt32
    public init(node: UInt32, pid: UInt32) {
        self.node = node
        self.pid = pid
    }
    public static func < (a: MemberID, b: MemberID) -> Bool { (a.node, a.pid) < (b.node, b.pid) }
    public var description: String { "\(node)/\(pid)" }
}

/// What lifeboatd nodes multicast to each other through CPG (agreed order), in the
/// explicit schema of Docs/WIRE.md. A message larger than one frame travels as fragments
/// with a CRC-32C over the whole; anything malformed is refused with a reason and changes
/// nothing.
public struct WireMessage: Sendable, Equatable {
    /// The protocol version this build speaks. Any change of the schema bumps it: the
    /// golden-file tests (Tests/LifeboatReplicationTests/Golden) fail otherwise.
    public static let currentVersion = 9
    /// One CPG message carries at most this many bytes; larger messages are fragmented.
    public static let maxFrameBytes = 256 * 1024
    /// Raw bytes per fragment (base64 makes 4 of every 3).
    static let fragmentPayloadBytes = 3 * (maxFrameBytes - 1024) / 4
    /// A whole message (a configuration, a snapshot) is at most this large.
    public static let maxMessageBytes = 64 << 20

    public var body: Body

    public init(_ body: Body) { self.body = body }

    public enum Body: Sendable, Equatable {
        /// A state-changing input, applied by every member in delivery order. `at` is the
        /// sender's estimate of cluster time; `request` lets the sender answer whoever asked
        /// once its own message came back.
        case event(Event, at: Double, request: UInt64?)
        /// Several writers' events in one multicast (a group commit: what one node's writers
        /// asked while its previous batch was travelling), applied in order, each as one
        /// `event`. Fewer messages through Corosync per write under concurrent writers.
        case events([Stamped])
        /// In a sync round: what this member's state is, so every member picks the same one.
        case offer(Offer)
        /// The round winner's state.
        case snapshot(Snapshot)
        /// A round made no progress for the round timeout: every member closes it the same
        /// way (members that did not offer are set aside; see `Replica`). `winner` is the
        /// phase the sender saw (nil: waiting for offers), so that the aborts several
        /// members send for one stall close it once.
        case roundAbort(round: [MemberID], winner: MemberID?)
        /// A member that is not synced and sees no round asks for one.
        case syncRequest(round: [MemberID])
        /// A member's durable history misses these positions (it was away longer than the
        /// replicated window reaches): the leader of record answers from its own.
        case historyRequest(first: Int, last: Int)
        /// The answer to `historyRequest`, for one member: entries from position
        /// `firstSeq`, as many as fit; none when the answering node holds none of them.
        case historyPart(HistoryPart)
    }

    /// One event of a batch, with what `event` carries beside it.
    public struct Stamped: Sendable, Equatable {
        public var event: Event
        public var at: Double
        public var request: UInt64?
        public init(_ event: Event, at: Double, request: UInt64?) {
            self.event = event
            self.at = at
            self.request = request
        }

        var json: JSONValue {
            var f: [(String, JSONValue)] = [("at", .number(at))]
            if let request { f.append(("request", .uint(request))) }
            f.append(("event", event.json))
            return .object(f)
        }

        static func decode(_ v: JSONValue, at path: String) throws(ScenarioError) -> Stamped {
            var r = try ObjectReader(v, at: path)
            let at = try r.number("at")
            let request = try r.optional("request").map { v throws(ScenarioError) in try ObjectReader.uint64(v, at: "\(path).request") }
            let event = try Event.decode(try r.required("event"), at: "\(path).event")
            try r.finish()
            return Stamped(event, at: at, request: request)
        }
    }

    public struct HistoryPart: Sendable, Equatable {
        public var to: MemberID
        /// What was asked for.
        public var first: Int
        public var last: Int
        /// Where `entries` start (after `first` when the older ones are pruned everywhere).
        public var firstSeq: Int
        public var entries: [HistoryEntry]
        public init(to: MemberID, first: Int, last: Int, firstSeq: Int, entries: [HistoryEntry]) {
            self.to = to
            self.first = first
            self.last = last
            self.firstSeq = firstSeq
            self.entries = entries
        }
    }

    public struct Offer: Sendable, Equatable {
        public var round: [MemberID]
        public var quorate: Bool
        public var configVersion: UInt64
        public var progress: UInt64
        public var epoch: UInt64
        /// The offered state's `lineage`: ties between different contents are broken by
        /// content, not by who started first or who churned longest alone.
        public var digest: UInt32
        /// The sender's own wall clock: the round's lower median anchors cluster time.
        public var clock: Double
    }

    public struct Snapshot: Sendable, Equatable {
        public var round: [MemberID]
        public var leader: MemberID?
        public var state: ClusterState
        public var history: [HistoryEntry]
        public var prunedHistory: Int
    }

    // MARK: Encoding

    public var json: JSONValue {
        var f: [(String, JSONValue)] = [("v", .int(Self.currentVersion))]
        switch body {
        case .event(let e, let at, let request):
            f += [("type", .string("event")), ("at", .number(at))]
            if let request { f.append(("request", .uint(request))) }
            f.append(("event", e.json))
        case .events(let items):
            f += [("type", .string("events")), ("events", .array(items.map(\.json)))]
        case .offer(let o):
            f += [
                ("type", .string("offer")), ("round", Self.json(o.round)), ("quorate", .bool(o.quorate)),
                ("config_version", .uint(o.configVersion)), ("progress", .uint(o.progress)), ("epoch", .uint(o.epoch)),
                ("digest", .uint(UInt64(o.digest))), ("clock", .number(o.clock)),
            ]
        case .snapshot(let s):
            f += [
                ("type", .string("snapshot")), ("round", Self.json(s.round)), ("leader", s.leader.map(Self.json) ?? .null),
                ("pruned_history", .int(s.prunedHistory)), ("state", s.state.json), ("history", .array(s.history.map(\.json))),
            ]
        case .roundAbort(let round, let winner):
            f += [("type", .string("round_abort")), ("round", Self.json(round)), ("winner", winner.map(Self.json) ?? .null)]
        case .syncRequest(let round): f += [("type", .string("sync_request")), ("round", Self.json(round))]
        case .historyRequest(let first, let last): f += [("type", .string("history_request")), ("first", .int(first)), ("last", .int(last))]
        case .historyPart(let p):
            f += [
                ("type", .string("history_part")), ("to", Self.json(p.to)), ("first", .int(p.first)), ("last", .int(p.last)),
                ("first_seq", .int(p.firstSeq)), ("entries", .array(p.entries.map(\.json))),
            ]
        }
        return .object(f)
    }

    public func encoded() -> [UInt8] { Array(JSONWriter.write(json, timeKeys: []).utf8) }

    /// The CPG messages that carry this message: itself, or fragments numbered `id`.
    public func frames(id: UInt64) -> [[UInt8]] {
        let bytes = encoded()
        guard bytes.count > Self.maxFrameBytes else { return [bytes] }
        let crc = CRC32C.checksum(bytes)
        let step = Self.fragmentPayloadBytes
        let count = (bytes.count + step - 1) / step
        return (0..<count).map { n in
            let chunk = Data(bytes[(n * step)..<min(bytes.count, (n + 1) * step)])
            let frame: JSONValue = .object([
                ("v", .int(Self.currentVersion)), ("type", .string("fragment")), ("id", .uint(id)), ("index", .int(n)),
                ("count", .int(count)), ("size", .int(bytes.count)), ("crc32c", .uint(UInt64(crc))),
                ("data", .string(chunk.base64EncodedString())),
            ])
            return Array(JSONWriter.write(frame, timeKeys: []).utf8)
        }
    }

    static func json(_ m: MemberID) -> JSONValue { .object([("node", .uint(m.node)), ("pid", .uint(m.pid))]) }
    static func json(_ ms: [MemberID]) -> JSONValue { .array(ms.map(json)) }

    // MARK: Decoding

    /// One CPG message: a whole message, or a fragment of one.
    public enum Frame: Sendable, Equatable {
        case message(WireMessage)
        case fragment(Fragment)
    }

    public struct Fragment: Sendable, Equatable {
        public var id: UInt64
        public var index: Int
        public var count: Int
        public var size: Int
        public var crc32c: UInt32
        public var data: [UInt8]
    }

    public static func decodeFrame(_ bytes: [UInt8]) throws(WireError) -> Frame {
        guard bytes.count <= maxFrameBytes else { throw .tooLarge(bytes.count) }
        let json: JSONValue
        do { json = try JSONParser.parse(bytes: bytes) } catch {
            throw .malformed("not a Lifeboat message (\(bytes.count) bytes): \(error)")
        }
        guard case .number(let v) = json["v"] ?? .null else { throw .malformed("not a Lifeboat message: no version") }
        guard v == Double(currentVersion) else { throw .unknownVersion(Int(exactly: v) ?? -1) }
        do {
            var r = try ObjectReader(json, at: "")
            _ = r.optional("v")
            if try r.string("type") == "fragment" {
                let f = Fragment(
                    id: try r.uint64("id"), index: try r.int("index"), count: try r.int("count"), size: try r.int("size"),
                    crc32c: UInt32(clamping: try r.uint64("crc32c")),
                    data: try { () throws(ScenarioError) -> [UInt8] in
                        guard let d = Data(base64Encoded: try r.string("data")) else { throw ScenarioError("data", "not base64") }
                        return Array(d)
                    }())
                try r.finish()
                guard f.count > 1, f.count <= maxMessageBytes / fragmentPayloadBytes + 1, (0..<f.count).contains(f.index),
                    f.size > 0, f.size <= maxMessageBytes
                else { throw WireError.malformed("fragment \(f.index) of \(f.count) (\(f.size) bytes) is out of bounds") }
                return .fragment(f)
            }
            return .message(try decodeBody(json))
        } catch let e as WireError {
            throw e
        } catch let e as ScenarioError {
            throw .malformed("version \(currentVersion) message does not decode: \(e)")
        } catch {
            throw .malformed("\(error)")
        }
    }

    /// A whole message (reassembled from fragments, or a single frame).
    public static func decode(_ bytes: [UInt8]) throws(WireError) -> WireMessage {
        guard bytes.count <= maxMessageBytes else { throw .tooLarge(bytes.count) }
        let json: JSONValue
        do { json = try JSONParser.parse(bytes: bytes) } catch { throw .malformed("not a Lifeboat message: \(error)") }
        guard case .number(let v) = json["v"] ?? .null else { throw .malformed("not a Lifeboat message: no version") }
        guard v == Double(currentVersion) else { throw .unknownVersion(Int(exactly: v) ?? -1) }
        do { return try decodeBody(json) } catch { throw .malformed("version \(currentVersion) message does not decode: \(error)") }
    }

    static func decodeBody(_ json: JSONValue) throws(ScenarioError) -> WireMessage {
        var r = try ObjectReader(json, at: "")
        _ = r.optional("v")
        let body: Body
        switch try r.string("type") {
        case "event":
            let at = try r.number("at")
            let request = try r.optional("request").map { v throws(ScenarioError) in try ObjectReader.uint64(v, at: "request") }
            body = .event(try Event.decode(try r.required("event"), at: "event"), at: at, request: request)
        case "events":
            let items = try r.list("events") { v, p throws(ScenarioError) in try Stamped.decode(v, at: p) }
            guard !items.isEmpty else { throw ScenarioError("events", "a batch of no events") }
            body = .events(items)
        case "offer":
            body = .offer(
                Offer(
                    round: try members(&r, "round"), quorate: try r.bool("quorate"), configVersion: try r.uint64("config_version"),
                    progress: try r.uint64("progress"), epoch: try r.uint64("epoch"),
                    digest: UInt32(clamping: try r.uint64("digest")), clock: try r.number("clock")))
        case "snapshot":
            let round = try members(&r, "round")
            let leader = try r.optional("leader").map { v throws(ScenarioError) in try member(v, at: "leader") }
            let pruned = Int(try r.uint64("pruned_history"))
            let state = try ClusterState.decode(try r.required("state"), at: "state")
            let history = try r.list("history") { v, p throws(ScenarioError) in try HistoryEntry.decode(v, at: p) }
            body = .snapshot(Snapshot(round: round, leader: leader, state: state, history: history, prunedHistory: pruned))
        case "round_abort":
            body = .roundAbort(
                round: try members(&r, "round"),
                winner: try r.optional("winner").map { v throws(ScenarioError) in try member(v, at: "winner") })
        case "sync_request": body = .syncRequest(round: try members(&r, "round"))
        case "history_request":
            let first = try r.int("first")
            let last = try r.int("last")
            guard first >= 0, last >= first else { throw ScenarioError("last", "a range from \(first) to \(last) is empty") }
            body = .historyRequest(first: first, last: last)
        case "history_part":
            let to = try member(try r.required("to"), at: "to")
            let first = try r.int("first")
            let last = try r.int("last")
            let firstSeq = try r.int("first_seq")
            let entries = try r.list("entries") { v, p throws(ScenarioError) in try HistoryEntry.decode(v, at: p) }
            guard first >= 0, last >= first, firstSeq >= first, firstSeq + entries.count - 1 <= last else {
                throw ScenarioError("first_seq", "entries \(firstSeq)… (\(entries.count)) are outside the range \(first)…\(last)")
            }
            body = .historyPart(HistoryPart(to: to, first: first, last: last, firstSeq: firstSeq, entries: entries))
        case let t: throw ScenarioError("type", "unknown message type '\(t)'")
        }
        try r.finish()
        return WireMessage(body)
    }

    static func member(_ v: JSONValue, at path: String) throws(ScenarioError) -> MemberID {
        var r = try ObjectReader(v, at: path)
        let m = MemberID(node: try r.uint32("node"), pid: try r.uint32("pid"))
        try r.finish()
        return m
    }

    static func members(_ r: inout ObjectReader, _ key: String) throws(ScenarioError) -> [MemberID] {
        try r.list(key) { v, p throws(ScenarioError) in try member(v, at: p) }
    }
}

public enum WireError: Error, CustomStringConvertible, Equatable, Sendable {
    case tooLarge(Int)
    case unknownVersion(Int)
    case malformed(String)

    public var description: String {
        switch self {
        case .tooLarge(let n): "message of \(n) bytes exceeds the limit"
        case .unknownVersion(let v): "message of protocol version \(v) (this build speaks \(WireMessage.currentVersion))"
        case .malformed(let why): why
        }
    }
}
