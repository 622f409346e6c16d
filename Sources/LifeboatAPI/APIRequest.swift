import Foundation
import LifeboatCore

/// One HTTP request as the API handles it: no socket, no framework types, so that the
/// handlers can be driven by tests directly (the server shell converts Hummingbird's).
public struct APIRequest: Sendable {
    public var method: String
    /// The path without the query, percent-decoded.
    public var path: String
    public var query: [(String, String)]
    /// Header names in lowercase.
    public var headers: [String: String]
    public var body: [UInt8]

    public init(method: String, path: String, query: [(String, String)] = [], headers: [String: String] = [:], body: [UInt8] = []) {
        self.method = method.uppercased()
        self.path = path
        self.query = query
        var h: [String: String] = [:]
        for (k, v) in headers { h[k.lowercased()] = v }
        self.headers = h
        self.body = body
    }

    /// Splits `path?query` (percent-decoding both).
    public init(method: String, target: String, headers: [String: String] = [:], body: [UInt8] = []) {
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(parts[0]).removingPercentEncoding ?? String(parts[0])
        var query: [(String, String)] = []
        if parts.count > 1 {
            for item in parts[1].split(separator: "&") where !item.isEmpty {
                let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                func decode(_ s: Substring) -> String {
                    String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s)
                }
                query.append((decode(kv[0]), kv.count > 1 ? decode(kv[1]) : ""))
            }
        }
        self.init(method: method, path: path, query: query, headers: headers, body: body)
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// Every value of a query parameter, in order.
    public func values(_ key: String) -> [String] { query.filter { $0.0 == key }.map(\.1) }
}

/// One HTTP answer.
public struct APIResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func json(_ status: Int, _ value: JSONValue, headers: [(String, String)] = []) -> APIResponse {
        APIResponse(
            status: status, headers: [("Content-Type", "application/json")] + headers,
            body: Array(JSONWriter.write(value, timeKeys: []).utf8))
    }

    /// The body as JSON (tests).
    public var json: JSONValue? { try? JSONParser.parse(String(decoding: body, as: UTF8.self)) }
}

/// An error answered in Masakari's fault shape: `{"<faultName>": {"code", "message"}}`.
public struct APIFault: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var message: String
    public var headers: [(String, String)] = []

    public init(_ status: Int, _ message: String, headers: [(String, String)] = []) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status) \(message)" }

    public static func badRequest(_ m: String) -> APIFault { APIFault(400, m) }
    public static func notFound(_ m: String) -> APIFault { APIFault(404, m) }
    public static func conflict(_ m: String) -> APIFault { APIFault(409, m) }
    public static func unavailable(_ m: String) -> APIFault { APIFault(503, m) }

    /// Masakari's (and Nova's) fault names by status.
    public static func faultName(_ status: Int) -> String {
        switch status {
        case 400: "badRequest"
        case 401: "unauthorized"
        case 403: "forbidden"
        case 404: "itemNotFound"
        case 405: "badMethod"
        case 409: "conflictingRequest"
        case 413, 429: "overLimit"
        case 415: "badMediaType"
        case 501: "notImplemented"
        case 503: "serviceUnavailable"
        default: "masakariFault"
        }
    }

    public var response: APIResponse {
        .json(
            status, .object([(Self.faultName(status), .object([("code", .int(status)), ("message", .string(message))]))]),
            headers: headers)
    }
}
