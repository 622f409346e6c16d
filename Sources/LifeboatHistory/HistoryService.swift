import LifeboatCore

/// The history's requests as JSON, answered from a database: the daemon answers the CLI
/// and the API with it, and `lifeboat history --database FILE` reads a copied file with it.
/// Requests are checked strictly: a bad filter gets an error that names it, never an
/// empty answer that looks like "nothing happened".
public enum HistoryService {
    /// Kinds a `kinds` filter may name: events, actions, incidents.
    public static var knownKinds: Set<String> {
        Set(Event.allKinds).union(Action.allKinds).union(["migrate"]).union(Incident.Kind.allCases.map(\.rawValue))
    }

    public static func filter(_ request: JSONValue) throws(HistoryError) -> HistoryFilter {
        var f = HistoryFilter()
        func text(_ key: String) throws(HistoryError) -> String? {
            switch request[key] ?? .null {
            case .null: return nil
            case .string(let s) where !s.isEmpty: return s
            default: throw HistoryError("'\(key)' must be a non-empty string")
            }
        }
        func number(_ key: String) throws(HistoryError) -> Double? {
            switch request[key] ?? .null {
            case .null: return nil
            case .number(let d) where d.isFinite: return d
            default: throw HistoryError("'\(key)' must be a number")
            }
        }
        f.host = try text("host")
        f.instance = try text("instance")
        f.segment = try text("segment")
        f.since = try number("since")
        f.until = try number("until")
        if let s = f.since, let u = f.until, s > u { throw HistoryError("'since' is after 'until'") }
        if let id = try number("incident") {
            guard id >= 1, id == id.rounded(), id < 1e15 else { throw HistoryError("'incident' must be a whole number from 1") }
            f.incident = Int(id)
        }
        if let limit = try number("limit") { f.limit = Int(max(0, min(limit, 1_000_000))) }
        switch request["kinds"] ?? .null {
        case .null: break
        case .array(let items):
            for item in items {
                guard case .string(let k) = item, knownKinds.contains(k) else {
                    throw HistoryError("unknown kind \(JSONWriter.write(item, timeKeys: [])) (one of: \(knownKinds.sorted().joined(separator: ", ")))")
                }
                f.kinds.append(k)
            }
        default: throw HistoryError("'kinds' must be a list of kind names")
        }
        return f
    }

    /// `records` (oldest first), `matched`, the incidents they belong to, and what the
    /// database holds and pruned.
    public static func records(_ db: HistoryDatabase, _ request: JSONValue) throws -> [(String, JSONValue)] {
        let f = try filter(request)
        let page = try db.records(f)
        var incidents: [Int: Incident] = [:]
        for id in Set(page.records.compactMap(\.incident)) { incidents[id] = try db.incident(id) }
        var out: [(String, JSONValue)] = [
            ("records", .array(page.records.map(json))), ("matched", .int(page.matched)),
            ("incidents", .array(incidents.keys.sorted().map { json(incidents[$0]!) })), ("durable", summaryJSON(try db.summary())),
        ]
        if let instance = f.instance { out.append(("downtime", try downtime(db, of: instance, f))) }
        return out
    }

    /// How long the instance was down in the filter's period, incident by incident (the
    /// report's rule: from the failure's detection until it ran again).
    static func downtime(_ db: HistoryDatabase, of instance: String, _ f: HistoryFilter) throws -> JSONValue {
        var inf = HistoryFilter()
        inf.instance = instance
        inf.since = f.since
        inf.until = f.until
        inf.limit = 100_000
        let list = try db.incidents(inf).incidents.filter { $0.instances.contains(instance) }
        let newest = try db.summary().newestAt ?? 0
        let until = f.until ?? newest
        let since = f.since ?? (list.map(\.openedAt).min() ?? until)
        let byIncident = try db.records(ofIncidents: Set(list.map(\.id)), kinds: SLAReport.recordKinds)
        let with = list.map { ($0, byIncident[$0.id] ?? []) }
        let report = SLAReport.compute(since: since, until: max(until, since), segment: nil, protectedInstances: 1, incidents: with)
        let mine = report.instances.first { $0.instance == instance }
        let lines: [JSONValue] = list.map { inc in
            .object([("incident", .int(inc.id)), ("summary", .string(inc.summary)), ("opened", .string(HistoryTime.iso(inc.openedAt)))])
        }
        return .object([
            ("instance", .string(instance)), ("seconds", .number(((mine?.downtime ?? 0) * 1000).rounded() / 1000)),
            ("still_down", .bool(mine?.stillDown ?? false)), ("incidents", .array(lines)),
        ])
    }

    public static func incidents(_ db: HistoryDatabase, _ request: JSONValue) throws -> [(String, JSONValue)] {
        let f = try filter(request)
        let (list, matched) = try db.incidents(f)
        return [("incidents", .array(list.map(json))), ("matched", .int(matched))]
    }

    /// One incident with its records and its timeline of stages.
    public static func incident(_ db: HistoryDatabase, id: Int) throws -> [(String, JSONValue)] {
        guard let inc = try db.incident(id) else { throw HistoryError("no incident \(id) in the history (pruned, or never opened)") }
        var f = HistoryFilter()
        f.incident = id
        f.limit = 100_000
        let records = try db.records(f).records
        let timeline = IncidentTimeline(incident: inc, records: records)
        return [("incident", json(inc)), ("stages", .array(timeline.stages.map(json))), ("records", .array(records.map(json)))]
    }

    /// The SLA report over the request's `since`/`until` (default: the last 30 days to
    /// `now`), for its `segment`; `format` `text` or `html` adds it `rendered`.
    public static func report(_ db: HistoryDatabase, _ request: JSONValue, now: Double, protectedInstances: Int) throws -> [(String, JSONValue)] {
        let f = try filter(request)
        let until = f.until ?? now
        let since = f.since ?? (until - 30 * 86400)
        let r = try db.report(since: since, until: until, segment: f.segment, protectedInstances: protectedInstances)
        var out: [(String, JSONValue)] = [("report", r.json)]
        switch request["format"] ?? .null {
        case .null, .string("json"): break
        case .string("text"): out.append(("rendered", .string(r.text)))
        case .string("html"): out.append(("rendered", .string(r.html)))
        default: throw HistoryError("'format' must be text, json or html")
        }
        return out
    }

    // MARK: JSON for people and machines

    public static func json(_ r: HistoryRecord) -> JSONValue {
        var f: [(String, JSONValue)] = [
            ("seq", .int(r.seq)), ("at", .number(r.at)), ("time", .string(HistoryTime.iso(r.at))), ("epoch", .uint(r.epoch)),
            ("node", .string(r.originName ?? "node \(r.origin)")), ("origin", .uint(r.origin)), ("kind", .string(r.kind)),
        ]
        if let a = r.action { f.append(("action", .string(a))) }
        if let k = r.actionKey { f.append(("key", .string(k))) }
        if let h = r.host { f.append(("host", .string(h))) }
        if let t = r.target { f.append(("target", .string(t))) }
        if let i = r.instance { f.append(("instance", .string(i))) }
        if let s = r.segment { f.append(("segment", .string(s))) }
        if let i = r.incident { f.append(("incident", .int(i))) }
        f.append(("result", .string(r.result)))
        if let why = r.reason { f.append(("reason", .string(why))) }
        if let o = r.outcome { f.append(("outcome", .string(o))) }
        if let d = r.durationMS { f.append(("duration_ms", .int(d))) }
        f += [("text", .string(HistorySentence.describe(r))), ("event", r.event)]
        return .object(f)
    }

    public static func json(_ i: Incident) -> JSONValue {
        guard case .object(var f) = i.json else { return i.json }
        f.append(("opened", .string(HistoryTime.iso(i.openedAt))))
        if let t = i.resolvedAt { f.append(("resolved", .string(HistoryTime.iso(t)))) }
        if let t = i.closedAt { f.append(("closed", .string(HistoryTime.iso(t)))) }
        return .object(f)
    }

    public static func json(_ s: IncidentTimeline.Stage) -> JSONValue {
        var f: [(String, JSONValue)] = [
            ("kind", .string(s.kind)), ("name", .string(s.name)), ("started_at", .number(s.startedAt)),
            ("started", .string(HistoryTime.iso(s.startedAt))),
        ]
        if let t = s.finishedAt { f += [("finished_at", .number(t)), ("finished", .string(HistoryTime.iso(t)))] }
        if let d = s.duration { f.append(("duration_ms", .int(Int((d * 1000).rounded())))) }
        if let o = s.outcome { f.append(("outcome", .string(o))) }
        if let n = s.decidedBy { f.append(("decided_by", .string(n))) }
        if let n = s.executedOn { f.append(("executed_on", .string(n))) }
        if let d = s.detail { f.append(("detail", .string(d))) }
        if let k = s.key { f += [("key", .string(k)), ("attempt", .int(s.attempt))] }
        return .object(f)
    }

    public static func summaryJSON(_ s: HistorySummary) -> JSONValue {
        .object([
            ("entries", .int(s.entries)), ("incidents", .int(s.incidents)), ("open_incidents", .int(s.openIncidents)),
            ("oldest", s.oldestAt.map { .string(HistoryTime.iso($0)) } ?? .null), ("newest", s.newestAt.map { .string(HistoryTime.iso($0)) } ?? .null),
            ("pruned_entries", .int(s.prunedEntries)), ("pruned_incidents", .int(s.prunedIncidents)),
            ("pruned_until", s.prunedUntil.map { .string(HistoryTime.iso($0)) } ?? .null), ("superseded_entries", .int(s.supersededEntries)),
            ("missing", .array(s.gaps.map { .array([.int($0.lowerBound), .int($0.upperBound)]) })),
        ])
    }
}
