/// Incidents in the explicit schema (Docs/WIRE.md): in the state (the open ones) and in
/// history entries (what an event opened, resolved or closed).
extension Incident {
    public var json: JSONValue {
        var f: [(String, JSONValue)] = [
            ("id", .int(id)), ("kind", .string(kind.rawValue)), ("scope", .string(scope)), ("cause", .string(cause)),
        ]
        if let host { f.append(("host", .string(host))) }
        if let segment { f.append(("segment", .string(segment))) }
        if let instance { f.append(("instance", .string(instance))) }
        if let process { f.append(("process", .string(process))) }
        f.append(("opened_at", .number(openedAt)))
        if let resolvedAt { f.append(("resolved_at", .number(resolvedAt))) }
        if let outcome { f.append(("outcome", .string(outcome.rawValue))) }
        if let closedAt { f.append(("closed_at", .number(closedAt))) }
        f.append(("summary", .string(summary)))
        if !instances.isEmpty { f.append(("instances", .strings(instances))) }
        if let related { f.append(("related", .int(related))) }
        return .object(f)
    }

    public static func decode(_ v: JSONValue, at path: String) throws(ScenarioError) -> Incident {
        var r = try ObjectReader(v, at: path)
        let id = try r.int("id")
        guard id >= 1 else { throw ScenarioError(r.sub("id"), "must be at least 1") }
        var inc = Incident(
            id: id, kind: try r.choice("kind", Kind.self), scope: try r.string("scope"), cause: try r.string("cause"),
            openedAt: try r.number("opened_at"), summary: try r.string("summary"))
        inc.host = try r.optionalText("host")
        inc.segment = try r.optionalText("segment")
        inc.instance = try r.optionalText("instance")
        inc.process = try r.optionalText("process")
        inc.resolvedAt = try r.optionalNumber("resolved_at")
        inc.outcome = try r.optional("outcome").map { v throws(ScenarioError) in try ObjectReader.choice(v, at: r.sub("outcome"), IncidentOutcome.self) }
        inc.closedAt = try r.optionalNumber("closed_at")
        inc.instances = try r.stringList("instances")
        inc.related = try r.optional("related").map { v throws(ScenarioError) in try ObjectReader.int(v, at: r.sub("related")) }
        try r.finish()
        return inc
    }
}

extension Applied {
    /// The fields a history entry carries for it (none when the event has no incident).
    public var fields: [(String, JSONValue)] {
        var f: [(String, JSONValue)] = []
        if let incident { f.append(("incident", .int(incident))) }
        if !incidents.isEmpty { f.append(("incidents", .array(incidents.map(\.json)))) }
        return f
    }

    public static func read(_ r: inout ObjectReader) throws(ScenarioError) -> Applied {
        let id = try r.optional("incident").map { v throws(ScenarioError) in try ObjectReader.int(v, at: r.sub("incident")) }
        let incidents = try r.array("incidents").enumerated().map { n, v throws(ScenarioError) in
            try Incident.decode(v, at: "\(r.sub("incidents"))[\(n)]")
        }
        return Applied(incident: id, incidents: incidents)
    }
}
