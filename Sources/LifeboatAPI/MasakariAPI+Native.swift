import LifeboatCore

/// Lifeboat's own paths, beside Masakari's (`/v1` stays pure Masakari): the cluster's
/// status, its history, and the operator's fence, confirm and maintenance commands.
extension MasakariAPI {
    func native(_ r: APIRequest, _ parts: [String]) async throws(APIFault) -> APIResponse {
        switch parts.count {
        case 1 where parts[0] == "status":
            try allow(r, ["GET"])
            return .json(200, await backend.status())
        case 1 where parts[0] == "history":
            try allow(r, ["GET"])
            var limit = 50
            if let l = r.values("limit").last {
                guard let n = Int(l), n >= 0 else { throw .badRequest("limit must be a whole number of 0 or more, found '\(l)'") }
                limit = min(n, 100_000)
            }
            return .json(200, await backend.history(limit: limit))
        case 3 where parts[0] == "hosts":
            let host = parts[1]
            let s = try await currentState()
            guard s.hosts[host] != nil else { throw .notFound("No host \(host) in any segment") }
            let event: Event
            switch parts[2] {
            case "fence":
                try allow(r, ["POST"])
                try Self.emptyOrObject(r.body, [])
                event = .fenceRequested(host: host)
            case "confirm-off":
                try allow(r, ["POST"])
                try Self.emptyOrObject(r.body, [])
                event = .fenceConfirmedByOperator(host: host)
            case "maintenance":
                try allow(r, ["PUT"])
                let b = try BodyReader.wrapped(r.body, "maintenance")
                try b.only(["on"])
                event = .maintenance(host: host, on: try b.boolean("on"))
            default:
                throw .notFound("Unknown resource \(r.path)")
            }
            try await write(event)
            let after = try await currentState()
            return .json(202, .object([("accepted", .string(event.kind)), ("host", .string(host)), ("epoch", .uint(after.epoch))]))
        default:
            throw .notFound("Unknown resource \(r.path) (GET status, GET history, POST hosts/NAME/fence, POST hosts/NAME/confirm-off, PUT hosts/NAME/maintenance)")
        }
    }

    /// A command without parameters takes no body, or an empty object.
    static func emptyOrObject(_ body: [UInt8], _ allowed: [String]) throws(APIFault) {
        guard !body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) else { return }
        let v: JSONValue
        do { v = try JSONParser.parse(String(decoding: body, as: UTF8.self)) } catch { throw .badRequest("Malformed request body: \(error)") }
        guard case .object(let m) = v else { throw .badRequest("The body must be an object or empty") }
        for (k, _) in m where !allowed.contains(k) { throw .badRequest("Additional properties are not allowed ('\(k)' was unexpected)") }
    }
}
