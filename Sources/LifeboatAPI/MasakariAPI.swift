import Foundation
import LifeboatCore

/// What the API needs from the daemon: the replicated state, the replicated log, Nova's
/// word on a compute host and the native status and history documents.
public protocol APIBackend: Sendable {
    /// The state as this node applied it (nil: not connected to Corosync yet).
    func state() async -> ClusterState?
    /// Multicasts the event through the replicated log and waits until this node applied
    /// it: nil, or why it was refused.
    func submit(_ event: Event) async -> String?
    /// Whether Nova has a compute service on the host; nil when no cloud is configured
    /// (then Lifeboat's own cluster configuration is the only check).
    func computeExists(_ host: String) async -> Result<Bool, APIFault>?
    /// `lifeboat status --format json`'s document.
    func status() async -> JSONValue
    /// Answers a history request as the control socket does (`cmd`: `history`,
    /// `incidents`, `incident`, `report`): `{"ok": true, …}` or `{"ok": false, "error"}`.
    func historyRequest(_ request: JSONValue) async -> JSONValue
    /// The Prometheus exposition of this node's metrics.
    func metrics() async -> String
}

/// Who called, as Keystone says.
public struct Caller: Sendable, Equatable {
    public var user: String
    public var project: String?
    public var roles: Set<String>
    public var expires: Double

    public init(user: String, project: String?, roles: Set<String>, expires: Double) {
        self.user = user
        self.project = project
        self.roles = roles
        self.expires = expires
    }

    /// Masakari's default policy (`rule:admin_api`) for every segment, host and
    /// notification call, reads included.
    public var isAdmin: Bool { roles.contains("admin") }
}

/// Checks an `X-Auth-Token` (Keystone), answering who it is or a 401 fault.
public protocol TokenValidator: Sendable {
    func validate(_ token: String) async throws(APIFault) -> Caller
    /// Where clients get a token (`WWW-Authenticate: Keystone uri=...`), if known.
    func authURL() async -> String?
}

/// The HTTP API: Masakari v1 under `/v1[/{project_id}]`, Lifeboat's own paths under
/// `/lifeboat/v1`, the OpenAPI document at `/openapi.json`. Pure request → response over
/// an `APIBackend`; `APIServer` puts it on a socket.
public struct MasakariAPI: Sendable {
    let backend: any APIBackend
    /// nil: `noauth` (explicitly configured; every caller is an admin).
    let auth: (any TokenValidator)?
    let newUUID: @Sendable () -> String
    let renderCache = RenderCache()
    let listCache = BodyCache()

    public init(backend: any APIBackend, auth: (any TokenValidator)?, newUUID: @escaping @Sendable () -> String = { UUID().uuidString.lowercased() }) {
        self.backend = backend
        self.auth = auth
        self.newUUID = newUUID
    }

    public func handle(_ r: APIRequest) async -> APIResponse {
        do { return try await route(r) } catch { return error.response }
    }

    // MARK: Routing

    func route(_ r: APIRequest) async throws(APIFault) -> APIResponse {
        var parts = r.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        if parts.first == "instance-ha" { parts.removeFirst() }  // behind a path-routing proxy, as under uwsgi
        if parts.isEmpty {
            try allow(r, ["GET"])
            return .json(200, .object([("versions", .array([versionDocument(r, detailed: false)]))]))
        }
        if parts == ["metrics"] {
            // Prometheus scrapes without a Keystone token, as it does every exporter.
            try allow(r, ["GET"])
            return APIResponse(
                status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], body: Array(await backend.metrics().utf8))
        }
        if parts == ["openapi.json"] {
            try allow(r, ["GET"])
            return APIResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array(OpenAPIDocument.json.utf8))
        }
        if parts.first == "lifeboat" {
            guard parts.count >= 2, parts[1] == "v1" else { throw .notFound("Unknown path \(r.path)") }
            _ = try await authenticate(r, action: "lifeboat:\(parts.dropFirst(2).first ?? "")")
            return try await native(r, Array(parts.dropFirst(2)))
        }
        guard parts.first == "v1" else { throw .notFound("Unknown path \(r.path) (the API is under /v1)") }
        parts.removeFirst()
        if parts.isEmpty {
            try allow(r, ["GET"])
            return .json(200, .object([("version", versionDocument(r, detailed: true))]))
        }
        let version = try Microversion.requested(r.headers)
        var project: String? = nil
        if !["segments", "notifications"].contains(parts[0]) {
            guard parts[0].allSatisfy({ $0.isHexDigit || $0 == "-" }) else { throw .notFound("Unknown resource /v1/\(parts[0])") }
            project = parts.removeFirst()
        }
        guard let collection = parts.first else { throw .notFound("No resource named in \(r.path)") }
        let action = "os_masakari_api:\(collection):\(policyVerb(r.method, parts.count))"
        let caller = try await authenticate(r, action: action)
        if let project, let mine = caller.project, project != mine {
            throw .badRequest("Malformed request URL: URL's project_id '\(project)' doesn't match Context's project_id '\(mine)'")
        }
        var response: APIResponse
        switch collection {
        case "segments": response = try await segments(r, Array(parts.dropFirst()), version)
        case "notifications": response = try await notifications(r, Array(parts.dropFirst()), version)
        default: throw .notFound("Unknown resource \(collection)")
        }
        response.headers += version.headers
        return response
    }

    func policyVerb(_ method: String, _ depth: Int) -> String {
        switch method {
        case "GET": depth % 2 == 1 ? "index" : "detail"
        case "POST": "create"
        case "PUT": "update"
        case "DELETE": "delete"
        default: method.lowercased()
        }
    }

    func allow(_ r: APIRequest, _ methods: [String]) throws(APIFault) {
        guard methods.contains(r.method) else {
            throw APIFault(405, "The method \(r.method) is not allowed for this resource (allowed: \(methods.joined(separator: ", ")))", headers: [("Allow", methods.joined(separator: ", "))])
        }
    }

    /// The caller, or 401 (no token, a bad or expired one) or 403 (not an admin).
    func authenticate(_ r: APIRequest, action: String) async throws(APIFault) -> Caller {
        guard let auth else { return Caller(user: "noauth", project: nil, roles: ["admin"], expires: .infinity) }
        guard let token = r.header("x-auth-token"), !token.isEmpty else {
            let uri = await auth.authURL()
            throw APIFault(401, "The request you have made requires authentication.", headers: uri.map { [("WWW-Authenticate", "Keystone uri=\"\($0)\"")] } ?? [])
        }
        let caller = try await auth.validate(token)
        guard caller.isAdmin else { throw APIFault(403, "Policy doesn't allow \(action) to be performed.") }
        return caller
    }

    func versionDocument(_ r: APIRequest, detailed: Bool) -> JSONValue {
        let host = r.header("host") ?? "localhost:15868"
        let scheme = r.header("x-forwarded-proto") ?? "http"
        var links: [JSONValue] = [.object([("rel", .string("self")), ("href", .string("\(scheme)://\(host)/v1/"))])]
        var f: [(String, JSONValue)] = [
            ("id", .string("v1.0")), ("status", .string("CURRENT")), ("version", .string(Microversion.max.description)),
            ("min_version", .string(Microversion.min.description)), ("updated", .string("2016-07-01T11:33:21Z")),
        ]
        if detailed {
            links.append(.object([("rel", .string("describedby")), ("type", .string("text/html")), ("href", .string("https://docs.openstack.org/"))]))
            f.append(("links", .array(links)))
            f.append(("media-types", .array([.object([("base", .string("application/json")), ("type", .string("application/vnd.openstack.masakari+json;version=1"))])])))
        } else {
            f.append(("links", .array(links)))
        }
        return .object(f)
    }

    // MARK: Shared helpers

    func currentState() async throws(APIFault) -> ClusterState {
        guard let s = await backend.state() else { throw .unavailable("lifeboatd is not connected to Corosync yet: retry in a moment") }
        return s
    }

    /// What `body` makes of the current state, without keeping the state. A handler that
    /// checks a write against the state and then waits for the write must not hold the
    /// state meanwhile: the daemon applies other writes while it waits, and each would copy
    /// the arrays it changes because this copy still shares them (a notification's apply
    /// copied all the notifications kept, 10,000 by default).
    func fromState<T>(_ body: (ClusterState) throws(APIFault) -> T) async throws(APIFault) -> T {
        try body(try await currentState())
    }

    /// Submits through the replicated log; a refusal becomes the fault it stands for.
    func write(_ event: Event) async throws(APIFault) {
        if let why = await backend.submit(event) { throw Self.fault(forRejection: why) }
    }

    static func fault(forRejection why: String) -> APIFault {
        for (prefix, status) in [("conflict: ", 409), ("not found: ", 404), ("bad request: ", 400)] where why.hasPrefix(prefix) {
            return APIFault(status, String(why.dropFirst(prefix.count)))
        }
        if why.hasPrefix("no quorum") || why.hasPrefix("not connected") || why.contains("synchronising") || why.hasPrefix("timed out")
            || why.hasPrefix("quorum and membership disagree") || why.hasPrefix("lifeboatd is stopping") || why.hasPrefix("busy: ")
        {
            return APIFault(503, why, headers: [("Retry-After", "5")])
        }
        if why.hasPrefix("unknown host") || why.hasPrefix("unknown instance") || why.hasPrefix("unknown segment") { return APIFault(404, why) }
        return APIFault(409, why)
    }

    func openNotifications(on hosts: Set<String>, _ s: ClusterState) -> [NotificationRecord] {
        s.openNotifications.compactMap { s.notification(serial: $0) }.filter { hosts.contains($0.hostname) }
    }
}

/// Serialized records by a key that changes whenever the record does (uuid and update
/// time), bounded: cleared when it holds more than `limit` entries.
final class RenderCache: @unchecked Sendable {
    let lock = NSLock()
    var texts: [String: String] = [:]
    let limit = 50_000

    func text(_ key: String, _ make: () -> String) -> String {
        lock.lock()
        if let t = texts[key] {
            lock.unlock()
            return t
        }
        lock.unlock()
        let t = make()
        lock.lock()
        if texts.count >= limit { texts.removeAll(keepingCapacity: true) }
        texts[key] = t
        lock.unlock()
        return t
    }
}

/// Whole response bodies of list requests, by request (microversion and query), valid for
/// one version of the state: the first request after a change empties it. Small and
/// bounded; a list of 1,000 notifications is ~400 KB of JSON, written once per version
/// instead of once per request.
final class BodyCache: @unchecked Sendable {
    struct Version: Equatable {
        var epoch: UInt64
        var count: Int
        var pruned: Int
    }

    let lock = NSLock()
    var version: Version? = nil
    var bodies: [String: [UInt8]] = [:]
    let limit = 32

    func body(_ key: String, at v: Version) -> [UInt8]? {
        lock.lock()
        defer { lock.unlock() }
        return version == v ? bodies[key] : nil
    }

    func store(_ body: [UInt8], _ key: String, at v: Version) {
        lock.lock()
        defer { lock.unlock() }
        if version != v {
            // Only a newer state replaces the cache (a slow request for an older one must
            // not evict the current bodies).
            if let old = version, old.epoch > v.epoch { return }
            version = v
            bodies.removeAll(keepingCapacity: true)
        }
        if bodies.count >= limit { bodies.removeAll(keepingCapacity: true) }
        bodies[key] = body
    }
}
