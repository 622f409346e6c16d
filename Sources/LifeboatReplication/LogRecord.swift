import LifeboatCore

/// One event as a node applied it, for the local event log (`StateStore`): replaying the
/// records after a snapshot rebuilds exactly the same state and history.
public struct LogRecord: Sendable, Equatable {
    public var epoch: UInt64
    public var at: Double
    public var origin: UInt32
    public var event: Event
    public var result: HistoryEntry.Result

    public init(epoch: UInt64, at: Double, origin: UInt32, event: Event, result: HistoryEntry.Result) {
        self.epoch = epoch
        self.at = at
        self.origin = origin
        self.event = event
        self.result = result
    }
}

extension LogRecord {
    public var json: JSONValue {
        .object([("epoch", .uint(epoch)), ("at", .number(at)), ("origin", .uint(origin)), ("event", event.json)] + result.fields)
    }

    public static func decode(_ v: JSONValue, at path: String) throws(ScenarioError) -> LogRecord {
        var r = try ObjectReader(v, at: path)
        let epoch = try r.uint64("epoch")
        let at = try r.number("at")
        let origin = try r.uint32("origin")
        let event = try Event.decode(try r.required("event"), at: r.sub("event"))
        let result = try HistoryEntry.Result.read(&r)
        try r.finish()
        return LogRecord(epoch: epoch, at: at, origin: origin, event: event, result: result)
    }

    /// The history entry this record makes (nil for a `clock` beat).
    public var historyEntry: HistoryEntry? {
        if case .clock = event { return nil }
        return HistoryEntry(epoch: epoch, at: at, origin: origin, event: HistoryEntry.summary(event), result: result)
    }
}
