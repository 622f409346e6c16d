/// The Masakari records in the configuration's and the state's JSON: written only where
/// set, read back optionally (a configuration file or an older state without them is
/// valid; `apply` fills what is missing).
extension RecordIdentity {
    var fields: [(String, JSONValue)] {
        var f: [(String, JSONValue)] = []
        if !uuid.isEmpty { f.append(("uuid", .string(uuid))) }
        if serial > 0 { f.append(("id", .int(serial))) }
        if createdAt > 0 { f.append(("created_at", .number(createdAt))) }
        if updatedAt > 0 { f.append(("updated_at", .number(updatedAt))) }
        return f
    }

    static func read(_ r: inout ObjectReader) throws(ScenarioError) -> RecordIdentity {
        var id = RecordIdentity()
        if let u = try r.optionalText("uuid") {
            let lower = u.lowercased()
            guard RecordIdentity.isUUID(lower) else { throw ScenarioError(r.sub("uuid"), "expected a uuid (8-4-4-4-12 hex digits), found '\(u)'") }
            id.uuid = lower
        }
        id.serial = try r.int("id", default: 0)
        guard id.serial >= 0, Double(id.serial) < maxExactInteger else { throw ScenarioError(r.sub("id"), "must be a positive whole number") }
        id.createdAt = try r.number("created_at", default: 0)
        id.updatedAt = try r.number("updated_at", default: 0)
        return id
    }
}

extension Segment {
    /// Masakari's fields of a segment (configuration and state).
    var masakariFields: [(String, JSONValue)] {
        identity.fields + (description.map { [("description", JSONValue.string($0))] } ?? [])
            + (serviceType.isEmpty ? [] : [("service_type", .string(serviceType))])
    }

    mutating func readMasakariFields(_ r: inout ObjectReader) throws(ScenarioError) {
        identity = try RecordIdentity.read(&r)
        description = try r.optionalText("description")
        serviceType = try r.optionalText("service_type") ?? ""
    }
}

extension Host {
    var masakariFields: [(String, JSONValue)] {
        identity.fields + (type.isEmpty ? [] : [("type", JSONValue.string(type))])
            + (controlAttributes.map { [("control_attributes", JSONValue.string($0))] } ?? [])
    }

    mutating func readMasakariFields(_ r: inout ObjectReader) throws(ScenarioError) {
        identity = try RecordIdentity.read(&r)
        type = try r.optionalText("type") ?? ""
        controlAttributes = try r.optionalText("control_attributes")
    }
}

extension HostRegistration {
    var json: JSONValue {
        .object([
            ("uuid", .string(uuid)), ("name", .string(name)), ("segment", .string(segment)), ("reserved", .bool(reserved)),
            ("maintenance", .bool(maintenance)), ("type", .string(type)), ("control_attributes", .optional(controlAttributes)),
        ])
    }

    static func decode(_ v: JSONValue, at path: String) throws(ScenarioError) -> HostRegistration {
        var r = try ObjectReader(v, at: path)
        let h = HostRegistration(
            uuid: try r.string("uuid"), name: try r.string("name"), segment: try r.string("segment"), reserved: try r.bool("reserved"),
            maintenance: try r.bool("maintenance"), type: try r.text("type"), controlAttributes: try r.optionalText("control_attributes"))
        try r.finish()
        return h
    }
}

extension NotificationRecord {
    public var json: JSONValue {
        .object(
            identity.fields + [
                ("type", .string(type.rawValue)), ("hostname", .string(hostname)), ("generated_time", .string(generatedTime)),
                ("generated_at", .number(generatedAt)),
                ("payload", .object(payload.map { ($0.key, .string($0.value)) })),
                ("status", .string(status.rawValue)), ("message", .optional(message)),
                ("source_host_uuid", .string(sourceHostUUID)), ("failover_segment_uuid", .string(segmentUUID)),
                ("recovery", recovery.map { .int($0) } ?? .null), ("since", .number(since)),
            ])
    }

    public static func decode(_ v: JSONValue, at path: String) throws(ScenarioError) -> NotificationRecord {
        var r = try ObjectReader(v, at: path)
        let identity = try RecordIdentity.read(&r)
        guard !identity.uuid.isEmpty else { throw ScenarioError(r.sub("uuid"), "is required") }
        let payload = try r.object("payload")
        var pairs: [Pair] = []
        for (k, v) in payload.members {
            guard case .string(let s) = v else { throw ScenarioError(payload.sub(k), "expected a string, found \(v.typeName)") }
            pairs.append(Pair(k, s))
        }
        var n = NotificationRecord(
            identity: identity, type: try r.choice("type", NotificationType.self), hostname: try r.string("hostname"),
            generatedTime: try r.string("generated_time"), generatedAt: try r.number("generated_at"), payload: pairs)
        n.status = try r.choice("status", NotificationStatus.self)
        n.message = try r.optionalText("message")
        n.sourceHostUUID = try r.text("source_host_uuid")
        n.segmentUUID = try r.text("failover_segment_uuid")
        n.recovery = try r.optional("recovery").map { v throws(ScenarioError) in try ObjectReader.int(v, at: r.sub("recovery")) }
        n.since = try r.number("since", default: 0)
        try r.finish()
        return n
    }
}
