/// A notification as a scenario (or an operator's command) writes it: what a monitor would
/// post to `POST /v1/notifications`, in the scenario's own words:
///
///     {"at": 4, "kind": "notification", "type": "COMPUTE_HOST", "host": "compute-1",
///      "payload": {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}}
///
/// `uuid` and `generated_at` (scenario seconds) are optional: a uuid derived from the
/// event's position and the event's own time. The payload is checked as the API checks it
/// (the fields each type requires, their allowed values), so a scenario cannot hold a
/// notification the API would refuse.
extension NotificationRecord {
    static func readPosted(_ r: inout ObjectReader, names: EventNames) throws(ScenarioError) -> NotificationRecord {
        let type = try r.choice("type", NotificationType.self)
        let host = try r.string("host")
        guard names.hosts.contains(host) else { throw ScenarioError(r.sub("host"), "unknown host '\(host)'") }
        var uuid = ""
        if r.optional("uuid") != nil {
            uuid = try r.string("uuid").lowercased()
            guard RecordIdentity.isUUID(uuid) else { throw ScenarioError(r.sub("uuid"), "'\(uuid)' is not a uuid") }
        }
        let generatedAt = try r.number("generated_at", default: .nan)
        let payload = try r.object("payload")
        var pairs: [Pair] = []
        for (k, v) in payload.members {
            guard case .string(let s) = v else { throw ScenarioError(payload.sub(k), "expected a string, found \(v.typeName)") }
            pairs.append(Pair(k, s))
        }
        func oneOf(_ key: String, _ allowed: [String], required: Bool = true) throws(ScenarioError) {
            guard let v = pairs.first(where: { $0.key == key })?.value else {
                if required { throw ScenarioError(payload.sub(key), "is required for a \(type.rawValue) notification") }
                return
            }
            guard allowed.isEmpty || allowed.contains(v) else {
                throw ScenarioError(payload.sub(key), "unknown value '\(v)' (one of: \(allowed.joined(separator: ", ")))")
            }
        }
        let keys: [String]
        switch type {
        case .computeHost:
            keys = ["event", "host_status", "cluster_status"]
            try oneOf("event", ["STARTED", "STOPPED"])
            try oneOf("host_status", ["NORMAL", "UNKNOWN"], required: false)
            try oneOf("cluster_status", ["ONLINE", "OFFLINE"], required: false)
        case .process:
            keys = ["event", "process_name"]
            try oneOf("event", ["STARTED", "STOPPED"])
            try oneOf("process_name", [])
        case .vm:
            keys = ["event", "instance_uuid", "vir_domain_event"]
            try oneOf("event", [])
            try oneOf("instance_uuid", [])
            try oneOf("vir_domain_event", [])
        }
        for p in pairs where !keys.contains(p.key) {
            throw ScenarioError(payload.sub(p.key), "is not a field of a \(type.rawValue) payload (fields: \(keys.joined(separator: ", ")))")
        }
        var n = NotificationRecord(
            identity: RecordIdentity(uuid: uuid), type: type, hostname: host, generatedTime: "", generatedAt: generatedAt, payload: pairs)
        n.status = .new
        return n
    }

    /// Fills what the reader left open: the time (the event's own, unless given) and a uuid
    /// derived from `uuidSeed` (stable: the same scenario gives the same uuids).
    mutating func fillPosted(at: Double, uuidSeed: String) {
        if generatedAt.isNaN { generatedAt = at }
        generatedTime = MasakariTime.format(generatedAt)
        if identity.uuid.isEmpty { identity.uuid = RecordIdentity.derivedUUID("notification", uuidSeed) }
    }
}
