import LifeboatCore

/// One applied (or refused) event in the cluster's history: what happened, when, where it
/// came from. Kept by every member in the same order, bounded by `Policy.historyRetention`.
public struct HistoryEntry: Sendable, Equatable {
    public var epoch: UInt64
    /// Cluster time at which it was applied.
    public var at: Double
    /// The node whose message carried it.
    public var origin: UInt32
    /// The event in the wire dialect, shortened where it is bulky (a configuration is
    /// summarised; a console capture is in the action log, not here).
    public var event: JSONValue
    public var result: Result
    /// The incident the event belongs to, and the incidents it opened, resolved or closed.
    public var applied: Applied

    public enum Result: Sendable, Equatable {
        case applied
        case rejected(String)
        /// A result of an attempt no longer in flight: recorded, changed nothing.
        case stale(String)
    }

    public init(epoch: UInt64, at: Double, origin: UInt32, event: JSONValue, result: Result, applied: Applied = Applied()) {
        self.epoch = epoch
        self.at = at
        self.origin = origin
        self.event = event
        self.result = result
        self.applied = applied
    }

    /// The history form of an event.
    public static func summary(_ event: Event) -> JSONValue {
        switch event {
        case .configure(let c):
            return .object([
                ("kind", .string("configure")), ("segments", .int(c.segments.count)), ("hosts", .int(c.hosts.count)),
                ("instances", .int(c.instances.count)),
            ])
        case .actionFinished(let key, let attempt, var report):
            if case .captured(let text) = report.console { report.console = .captured("(\(text.utf8.count) bytes: lifeboat history --console)") }
            return Event.actionFinished(key: key, attempt: attempt, report: report).json
        case .consoleCaptured(let attempt, .captured(let text)):
            return Event.consoleCaptured(attempt: attempt, console: .captured("(\(text.utf8.count) bytes: lifeboat history --console)")).json
        default:
            return event.json
        }
    }

    public var json: JSONValue {
        .object([("epoch", .uint(epoch)), ("at", .number(at)), ("origin", .uint(origin)), ("event", event)] + result.fields + applied.fields)
    }

    public static func decode(_ v: JSONValue, at path: String) throws(ScenarioError) -> HistoryEntry {
        var r = try ObjectReader(v, at: path)
        let epoch = try r.uint64("epoch")
        let at = try r.number("at")
        let origin = try r.uint32("origin")
        let event = try r.required("event")
        guard case .object = event else { throw ScenarioError(r.sub("event"), "expected an object") }
        let result = try Result.read(&r)
        let applied = try Applied.read(&r)
        try r.finish()
        return HistoryEntry(epoch: epoch, at: at, origin: origin, event: event, result: result, applied: applied)
    }
}

extension HistoryEntry.Result {
    /// `"rejected": why` or `"stale": why`; nothing when applied.
    var fields: [(String, JSONValue)] {
        switch self {
        case .applied: []
        case .rejected(let why): [("rejected", .string(why))]
        case .stale(let why): [("stale", .string(why))]
        }
    }

    static func read(_ r: inout ObjectReader) throws(ScenarioError) -> HistoryEntry.Result {
        if let why = try r.optionalText("rejected") { return .rejected(why) }
        if let why = try r.optionalText("stale") { return .stale(why) }
        return .applied
    }
}
