import LifeboatCore

/// `/v1/notifications` and their `vmoves`: a notification is an input event like a
/// monitor's (a host said stopped is fenced first, always), recorded with its recovery.
extension MasakariAPI {
    static let notificationFilters = ["status": "string", "source_host_uuid": "string", "type": "string", "generated-since": "since"]
    static let notificationSorts: Set<String> = [
        "id", "notification_uuid", "type", "status", "generated_time", "source_host_uuid", "failover_segment_uuid", "created_at", "updated_at",
    ]
    static let vmoveFilters = ["status": "string", "type": "string"]
    static let vmoveSorts: Set<String> = ["id", "uuid", "instance_uuid", "instance_name", "source_host", "dest_host", "start_time", "end_time", "status", "type", "created_at"]

    func notifications(_ r: APIRequest, _ rest: [String], _ v: Microversion) async throws(APIFault) -> APIResponse {
        switch rest.count {
        case 0:
            try allow(r, ["GET", "POST"])
            if r.method == "GET" {
                let q = try ListQuery(r, filterKeys: Self.notificationFilters, sortKeys: Self.notificationSorts)
                let s = try await currentState()
                // The same list asked again before the state moves on (monitors and
                // dashboards poll) is answered with the body already written.
                let key = "\(v)?" + r.query.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
                let version = BodyCache.Version(epoch: s.epoch, count: s.notifications.count, pruned: s.prunedNotifications)
                if let body = listCache.body(key, at: version) {
                    return APIResponse(status: 200, headers: [("Content-Type", "application/json")], body: body)
                }
                let page = try q.apply(s.notifications, value: MasakariViews.notificationField)
                // Each record's text is written once per version of it (a list of a thousand
                // is mostly the same records again).
                let texts = page.map { n in
                    renderCache.text("\(v)#\(n.identity.serial)@\(n.identity.updatedAt.bitPattern)") {
                        JSONWriter.write(MasakariViews.notification(n, version: v, details: false, in: s), timeKeys: [])
                    }
                }
                let body = Array("{\"notifications\":[\(texts.joined(separator: ","))]}".utf8)
                listCache.store(body, key, at: version)
                return APIResponse(status: 200, headers: [("Content-Type", "application/json")], body: body)
            }
            return try await createNotification(r, v)
        case 1:
            try allow(r, ["GET"])
            let s = try await currentState()
            guard let n = s.notification(uuid: rest[0].lowercased()) else { throw .notFound("Notification \(rest[0]) could not be found.") }
            return .json(200, .object([("notification", MasakariViews.notification(n, version: v, details: true, in: s))]))
        default:
            guard rest[1] == "vmoves", rest.count <= 3 else { throw .notFound("Unknown resource \(r.path)") }
            try allow(r, ["GET"])
            let s = try await currentState()
            guard let n = s.notification(uuid: rest[0].lowercased()) else { throw .notFound("Notification \(rest[0]) could not be found.") }
            guard n.type == .computeHost else {
                throw .badRequest("Notification \(n.identity.uuid) is of type \(n.type.rawValue): only COMPUTE_HOST notifications move instances")
            }
            let moves = MasakariViews.vmoves(n, in: s)
            if rest.count == 3 {
                guard let m = moves.first(where: { $0["uuid"] == .string(rest[2].lowercased()) }) else {
                    throw .notFound("VM move \(rest[2]) could not be found.")
                }
                return .json(200, .object([("vmove", m)]))
            }
            let q = try ListQuery(r, filterKeys: Self.vmoveFilters, sortKeys: Self.vmoveSorts)
            return .json(200, .object([("vmoves", .array(try q.apply(moves)))]))
        }
    }

    func createNotification(_ r: APIRequest, _ v: Microversion) async throws(APIFault) -> APIResponse {
        let b = try BodyReader.wrapped(r.body, "notification")
        try b.only(["type", "hostname", "generated_time", "payload"])
        let type = NotificationType(rawValue: try b.oneOf("type", NotificationType.allCases.map(\.rawValue)))!
        let hostname = try b.hostname("hostname")
        guard case .string(let timeText) = try b.required("generated_time") else {
            throw b.invalid("generated_time", "Value must be a date-time string")
        }
        guard let (at, wire) = GeneratedTime.parse(timeText) else {
            throw b.invalid("generated_time", "'\(timeText)' is not an ISO 8601 date-time")
        }
        let payload = try Self.payload(b, type)
        try await fromState { s throws(APIFault) in
            guard let host = s.hosts[hostname] else { throw .badRequest("Host with name \(hostname) could not be found.") }
            if host.maintenance { throw .conflict("Notification received from host \(hostname) of type '\(type.rawValue)' is ignored as the host is already under maintenance.") }
        }
        let n = NotificationRecord(identity: RecordIdentity(uuid: newUUID()), type: type, hostname: hostname, generatedTime: wire, generatedAt: at, payload: payload)
        try await write(.notificationReceived(n))
        let view = try await fromState { after throws(APIFault) in
            guard let saved = after.notification(uuid: n.identity.uuid) else { throw APIFault(500, "notification \(n.identity.uuid) was applied but is not in the state") }
            return MasakariViews.notification(saved, version: v, details: false, in: after)
        }
        return .json(202, .object([("notification", view)]))
    }

    /// The payload: string values under keys of `^[a-zA-Z0-9-_:. ]{1,255}$`, with the fields
    /// each type requires.
    static func payload(_ b: BodyReader, _ type: NotificationType) throws(APIFault) -> [NotificationRecord.Pair] {
        let v = try b.required("payload")
        guard case .object(let members) = v else { throw b.invalid("payload", "Value must be an object") }
        var pairs: [NotificationRecord.Pair] = []
        for (k, value) in members {
            guard (1...255).contains(k.count), k.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_:. ".unicodeScalars.contains($0)) })
            else { throw b.invalid("payload", "Key '\(k)' must match ^[a-zA-Z0-9-_:. ]{1,255}$") }
            guard case .string(let s) = value, s.count <= 255 else { throw b.invalid("payload", "Value of '\(k)' must be a string of at most 255 characters") }
            pairs.append(.init(k, s))
        }
        let inner = BodyReader(path: "payload", members: members)
        switch type {
        case .computeHost:
            try inner.only(["event", "host_status", "cluster_status"])
            _ = try inner.oneOf("event", ["STARTED", "STOPPED"])
            if inner.has("host_status") { _ = try inner.oneOf("host_status", ["NORMAL", "UNKNOWN"]) }
            if inner.has("cluster_status") { _ = try inner.oneOf("cluster_status", ["ONLINE", "OFFLINE"]) }
        case .process:
            try inner.only(["event", "process_name"])
            _ = try inner.oneOf("event", ["STARTED", "STOPPED"])
            guard case .string(let p) = try inner.required("process_name"), (1...4096).contains(p.count) else {
                throw inner.invalid("process_name", "Value must be a string of 1 to 4096 characters")
            }
        case .vm:
            try inner.only(["event", "instance_uuid", "vir_domain_event"])
            guard case .string(let id) = try inner.required("instance_uuid"), RecordIdentity.isUUID(id.lowercased()) else {
                throw inner.invalid("instance_uuid", "Value must be a uuid")
            }
            for key in ["event", "vir_domain_event"] {
                guard case .string(let e) = try inner.required(key), (1...255).contains(e.count) else {
                    throw inner.invalid(key, "Value must be a string of 1 to 255 characters")
                }
            }
        }
        return pairs
    }
}
