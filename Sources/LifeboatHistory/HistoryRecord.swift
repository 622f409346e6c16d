import LifeboatCore
import LifeboatReplication

/// One entry of the durable history as stored and queried: the replicated `HistoryEntry`
/// (its JSON is kept whole in `body`) with the facts that the queries filter on pulled out
/// into columns: what kind of thing happened, about which host, instance and segment, in
/// which incident, and where (the node that sent it, by its host name).
public struct HistoryRecord: Sendable, Equatable {
    /// Position in the cluster's history: the same number on every node for the same entry.
    public var seq: Int
    public var epoch: UInt64
    /// Cluster time (seconds since 1970, UTC).
    public var at: Double
    /// The node whose message carried it, and the host name that node had then.
    public var origin: UInt32
    public var originName: String?
    /// The event's kind (`node_lost`, `action_started`, …).
    public var kind: String
    /// For action records: the action's kind and key.
    public var action: String?
    public var actionKey: String?
    public var host: String?
    /// An evacuation's or a migration's target host.
    public var target: String?
    public var instance: String?
    public var segment: String?
    public var incident: Int?
    /// `applied`, `rejected` or `stale`, with the reason of the last two.
    public var result: String
    public var reason: String?
    /// An action result's outcome and duration.
    public var outcome: String?
    public var durationMS: Int?
    /// The `HistoryEntry` JSON, exactly as replicated.
    public var body: String

    public init(
        seq: Int, epoch: UInt64, at: Double, origin: UInt32, originName: String?, kind: String, action: String?, actionKey: String?,
        host: String?, target: String?, instance: String?, segment: String?, incident: Int?, result: String, reason: String?,
        outcome: String?, durationMS: Int?, body: String
    ) {
        self.seq = seq
        self.epoch = epoch
        self.at = at
        self.origin = origin
        self.originName = originName
        self.kind = kind
        self.action = action
        self.actionKey = actionKey
        self.host = host
        self.target = target
        self.instance = instance
        self.segment = segment
        self.incident = incident
        self.result = result
        self.reason = reason
        self.outcome = outcome
        self.durationMS = durationMS
        self.body = body
    }

    /// The entry's event as replicated (the history's short form).
    public var event: JSONValue { entry?.event ?? .null }

    /// The replicated entry, read back from `body`.
    public var entry: HistoryEntry? {
        guard let v = try? JSONParser.parse(body) else { return nil }
        return try? HistoryEntry.decode(v, at: "")
    }
}

/// What the writer knows beyond the entry: node names, the segment of each host, and the
/// subject of an action whose result names it only by key.
public struct RecordContext: Sendable {
    public var nodeName: @Sendable (UInt32) -> String?
    public var segmentOf: @Sendable (String) -> String?
    public init(nodeName: @escaping @Sendable (UInt32) -> String?, segmentOf: @escaping @Sendable (String) -> String?) {
        self.nodeName = nodeName
        self.segmentOf = segmentOf
    }

    /// From a state: what it says now (hosts rarely move between segments).
    public static func of(_ state: ClusterState) -> RecordContext {
        var names: [UInt32: String] = [:]
        for h in state.detachedHosts.values { names[h.nodeID] = h.name }
        for h in state.hosts.values { names[h.nodeID] = h.name }
        var segments: [String: String] = [:]
        for h in state.hosts.values { segments[h.name] = h.segment }
        for h in state.detachedHosts.values where segments[h.name] == nil { segments[h.name] = h.segment }
        let byNode = names, bySegment = segments
        return RecordContext(nodeName: { byNode[$0] }, segmentOf: { bySegment[$0] })
    }

    public static let none = RecordContext(nodeName: { _ in nil }, segmentOf: { _ in nil })
}

/// The subject of an action (`Action.json`): host, target, instance.
struct ActionSubject: Sendable, Equatable {
    var kind: String?
    var host: String?
    var target: String?
    var instance: String?
    var segment: String?

    init(kind: String? = nil, host: String? = nil, target: String? = nil, instance: String? = nil, segment: String? = nil) {
        self.kind = kind
        self.host = host
        self.target = target
        self.instance = instance
        self.segment = segment
    }

    init(action a: JSONValue) {
        kind = a["kind"]?.text
        host = a["host"]?.text ?? a["from"]?.text
        target = a["to"]?.text
        instance = a["instance"]?.text
        if let n = a["notice"] {
            host = n["host"]?.text
            instance = n["instance"]?.text
            segment = n["segment"]?.text
        }
    }

    /// What a key alone says (`fence:H`, `restart_process:H:P`, `evacuate:I`, …).
    init(key: String) {
        let parts = key.split(separator: ":", maxSplits: 2).map(String.init)
        kind = parts.first
        guard parts.count > 1 else { return }
        switch parts[0] {
        case "evacuate", "restart_instance", "migrate": instance = parts[1]
        case "notify": break
        default: host = parts[1]
        }
    }
}

extension HistoryRecord {
    /// The record of `entry` at position `seq`. `subject(key)` gives the subject of the
    /// action started under that key (a result names only the key).
    static func make(
        seq: Int, entry: HistoryEntry, body: String, context: RecordContext, subject: (String) -> ActionSubject?
    ) -> HistoryRecord {
        let e = entry.event
        let kind = e["kind"]?.text ?? "unknown"
        var action: String? = nil
        var key: String? = nil
        var s = ActionSubject()
        var outcome: String? = nil
        var duration: Int? = nil
        switch kind {
        case "action_started":
            if let a = e["action"] {
                s = ActionSubject(action: a)
                action = s.kind
                key = Self.key(of: a)
            }
        case "action_finished":
            key = e["key"]?.text
            if let key { s = subject(key) ?? ActionSubject(key: key) }
            action = s.kind
            outcome = e["report"]?["outcome"]?.text
            if case .number(let d) = e["report"]?["duration_ms"] ?? .null { duration = Int(d) }
        case "notification":
            s.host = e["notification"]?["hostname"]?.text
        case "host_saved":
            s.host = e["host"]?["name"]?.text
            s.segment = e["host"]?["segment"]?.text
        case "segment_saved":
            s.segment = e["segment"]?["name"]?.text
        default:
            s.host = e["host"]?.text
            s.instance = e["instance"]?.text
            s.segment = e["segment"]?.text
        }
        // An incident names what a result or a console capture is about when nothing else does.
        if s.host == nil, let inc = entry.applied.incidents.first(where: { $0.id == entry.applied.incident }) {
            s.host = inc.host
            if s.instance == nil { s.instance = inc.instance }
        }
        let (result, reason): (String, String?) =
            switch entry.result {
            case .applied: ("applied", nil)
            case .rejected(let why): ("rejected", why)
            case .stale(let why): ("stale", why)
            }
        return HistoryRecord(
            seq: seq, epoch: entry.epoch, at: entry.at, origin: entry.origin, originName: context.nodeName(entry.origin), kind: kind,
            action: action, actionKey: key, host: s.host, target: s.target, instance: s.instance,
            segment: s.segment ?? s.host.flatMap(context.segmentOf), incident: entry.applied.incident, result: result, reason: reason,
            outcome: outcome, durationMS: duration, body: body)
    }

    /// `Action.key` from the action's JSON.
    static func key(of a: JSONValue) -> String? {
        guard let kind = a["kind"]?.text else { return nil }
        switch kind {
        case "evacuate", "restart_instance", "migrate": return a["instance"]?.text.map { "\(kind):\($0)" }
        case "restart_process":
            guard let h = a["host"]?.text, let p = a["process"]?.text else { return nil }
            return "restart_process:\(h):\(p)"
        case "notify": return a["notice"]?["key"]?.text.map { "notify:\($0)" }
        default: return a["host"]?.text.map { "\(kind):\($0)" }
        }
    }
}

extension JSONValue {
    /// The string, if this is one.
    var text: String? { if case .string(let s) = self { s } else { nil } }
}
