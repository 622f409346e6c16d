import Foundation
import LifeboatCore
import LifeboatHistory

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
            return .json(200, try await history(r, "history", extra: ["incident"]))
        case 1 where parts[0] == "incidents":
            try allow(r, ["GET"])
            return .json(200, try await history(r, "incidents", extra: []))
        case 2 where parts[0] == "incidents":
            try allow(r, ["GET"])
            guard let id = Int(parts[1]), id >= 1 else { throw .badRequest("an incident id is a whole number from 1, found '\(parts[1])'") }
            try Self.onlyParameters(r, [])
            return .json(200, try await historyAnswer([("cmd", .string("incident")), ("id", .int(id))]))
        case 1 where parts[0] == "report":
            try allow(r, ["GET"])
            let format = r.values("format").last ?? "json"
            guard ["json", "html", "text"].contains(format) else { throw .badRequest("format must be json, html or text, found '\(format)'") }
            var request = try historyParameters(r, "report", extra: ["format"])
            request.append(("format", .string(format)))
            let answer = try await historyAnswer(request)
            if format == "json" { return .json(200, answer["report"] ?? .null) }
            let text: String = if case .string(let s) = answer["rendered"] ?? .null { s } else { "" }
            return APIResponse(
                status: 200, headers: [("Content-Type", format == "html" ? "text/html; charset=utf-8" : "text/plain; charset=utf-8")],
                body: Array(text.utf8))
        case 3 where parts[0] == "hosts":
            let host = parts[1]
            try await fromState { s throws(APIFault) in
                guard s.hosts[host] != nil else { throw .notFound("No host \(host) in any segment") }
            }
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
            let epoch = try await fromState { after throws(APIFault) in after.epoch }
            return .json(202, .object([("accepted", .string(event.kind)), ("host", .string(host)), ("epoch", .uint(epoch))]))
        default:
            throw .notFound(
                "Unknown resource \(r.path) (GET status, GET history, GET incidents, GET incidents/ID, GET report, POST hosts/NAME/fence, POST hosts/NAME/confirm-off, PUT hosts/NAME/maintenance)")
        }
    }

    /// The query parameters of the history paths, checked: unknown ones are refused.
    static let historyParameterNames = ["host", "instance", "segment", "kind", "since", "until", "limit"]

    static func onlyParameters(_ r: APIRequest, _ allowed: [String]) throws(APIFault) {
        for (k, _) in r.query where !allowed.contains(k) {
            throw .badRequest("unknown query parameter '\(k)' (known: \(allowed.isEmpty ? "none" : allowed.joined(separator: ", ")))")
        }
    }

    /// The history request of a query: times as `30d`, `12h`, an RFC 3339 date or date
    /// and time (UTC), or seconds since 1970.
    func historyParameters(_ r: APIRequest, _ cmd: String, extra: [String]) throws(APIFault) -> [(String, JSONValue)] {
        try Self.onlyParameters(r, Self.historyParameterNames + extra)
        var request: [(String, JSONValue)] = [("cmd", .string(cmd))]
        for key in ["host", "instance", "segment"] {
            if let v = r.values(key).last {
                guard !v.isEmpty else { throw .badRequest("\(key) must not be empty") }
                request.append((key, .string(v)))
            }
        }
        let kinds = r.values("kind").flatMap { $0.split(separator: ",").map(String.init) }
        if !kinds.isEmpty { request.append(("kinds", .strings(kinds))) }
        let now = Date().timeIntervalSince1970
        for key in ["since", "until"] {
            guard let v = r.values(key).last else { continue }
            guard let t = HistoryTime.parse(v, now: now) else { throw .badRequest("\(key) '\(v)' is not a time (30d, 12h, 2026-11-24, 2026-11-24T10:00:00Z)") }
            request.append((key, .number(t)))
        }
        for key in ["limit", "incident"] where extra.contains(key) || key == "limit" {
            guard let v = r.values(key).last else { continue }
            guard let n = Int(v), n >= (key == "limit" ? 0 : 1) else { throw .badRequest("\(key) must be a whole number, found '\(v)'") }
            request.append((key, .int(min(n, 100_000))))
        }
        return request
    }

    func history(_ r: APIRequest, _ cmd: String, extra: [String]) async throws(APIFault) -> JSONValue {
        try await historyAnswer(try historyParameters(r, cmd, extra: extra))
    }

    /// The daemon's answer without its `ok`, or the fault its error stands for.
    func historyAnswer(_ request: [(String, JSONValue)]) async throws(APIFault) -> JSONValue {
        let answer = await backend.historyRequest(.object(request))
        guard answer["ok"] == .bool(true), case .object(let fields) = answer else {
            let why: String = if case .string(let s) = answer["error"] ?? .null { s } else { "no answer" }
            if why.hasPrefix("no incident") { throw .notFound(why) }
            if why.contains("not available") || why.hasPrefix("not connected") { throw .unavailable(why) }
            throw .badRequest(why)
        }
        return .object(fields.filter { $0.0 != "ok" })
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
