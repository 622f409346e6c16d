import Foundation
import LifeboatCore

/// A Keystone v3 session: authenticates with a password or an application credential,
/// reuses the token until shortly before it expires (or until a service refuses it), and
/// finds endpoints in the service catalog by type, interface and region.
public actor KeystoneSession {
    public nonisolated let credentials: CloudCredentials
    let http: HTTPClient
    var token: Token? = nil

    struct Token {
        var value: String
        var expires: Date
        var catalog: [CatalogService]
        var projectID: String?
    }

    struct CatalogService: Decodable {
        var type: String
        var endpoints: [Endpoint]
        struct Endpoint: Decodable {
            var interface: String
            var region: String?
            var region_id: String?
            var url: String
        }
    }

    struct TokenBody: Decodable {
        var token: Inner
        struct Inner: Decodable {
            var expires_at: String
            var catalog: [CatalogService]?
            var project: Project?
        }
        struct Project: Decodable { var id: String }
    }

    /// Tokens are renewed this long before they expire.
    static let renewMargin: Double = 120

    public init(_ credentials: CloudCredentials, http: HTTPClient = HTTPClient()) {
        self.credentials = credentials
        self.http = http
    }

    /// A valid token (authenticating when there is none, or it is about to expire).
    public func currentToken() async throws(OpenStackError) -> String {
        if let t = token, t.expires.timeIntervalSinceNow > Self.renewMargin { return t.value }
        return try await authenticate().value
    }

    /// Forgets the token (a service answered 401): the next call authenticates again.
    public func invalidate() { token = nil }

    /// The endpoint URL of a service type (`compute`, `placement`, `image`).
    public func endpoint(_ type: String) async throws(OpenStackError) -> String {
        if token == nil { _ = try await authenticate() }
        let services = token?.catalog ?? []
        guard let service = services.first(where: { $0.type == type }) else {
            throw OpenStackError(call: "keystone: catalog", status: nil, message: "no '\(type)' service in the catalog")
        }
        let region = credentials.region
        guard
            let e = service.endpoints.first(where: {
                $0.interface == credentials.interface && (region == nil || $0.region == region || $0.region_id == region)
            })
        else {
            throw OpenStackError(
                call: "keystone: catalog", status: nil,
                message: "no \(credentials.interface) endpoint of '\(type)'\(region.map { " in region \($0)" } ?? "")")
        }
        return e.url.hasSuffix("/") ? String(e.url.dropLast()) : e.url
    }

    public func projectID() async throws(OpenStackError) -> String? {
        if token == nil { _ = try await authenticate() }
        return token?.projectID
    }

    @discardableResult
    func authenticate() async throws(OpenStackError) -> Token {
        let identity: JSONValue
        var scope: JSONValue? = nil
        switch credentials.method {
        case .password(let user, let password, let userDomain, let project, let projectDomain):
            identity = .object([
                ("methods", .array([.string("password")])),
                ("password", .object([("user", .object([
                    ("name", .string(user)), ("domain", .object([("name", .string(userDomain))])), ("password", .string(password)),
                ]))])),
            ])
            scope = .object([("project", .object([("name", .string(project)), ("domain", .object([("name", .string(projectDomain))]))]))])
        case .applicationCredential(let id, let name, let user, let userDomain, let secret):
            var cred: [(String, JSONValue)] = [("secret", .string(secret))]
            if let id { cred.append(("id", .string(id))) } else {
                cred.append(("name", .string(name ?? "")))
                cred.append(("user", .object([("name", .string(user ?? "")), ("domain", .object([("name", .string(userDomain))]))])))
            }
            identity = .object([("methods", .array([.string("application_credential")])), ("application_credential", .object(cred))])
        }
        var auth: [(String, JSONValue)] = [("identity", identity)]
        if let scope { auth.append(("scope", scope)) }
        let base = credentials.authURL.hasSuffix("/") ? String(credentials.authURL.dropLast()) : credentials.authURL
        let url = base.hasSuffix("/v3") ? base + "/auth/tokens" : base + "/v3/auth/tokens"
        let call = "keystone: POST /v3/auth/tokens"
        let r = try await http.send("POST", url, body: .object([("auth", .object(auth))]), call: call, retry: true)
        guard r.status == 201, let value = r.header("x-subject-token") else {
            throw OpenStackError(
                call: call, status: r.status, message: "authentication refused for \(credentials): \(HTTPClient.message(r.body))",
                requestID: r.requestID)
        }
        let body: TokenBody
        do { body = try JSONValueDecoder().decode(TokenBody.self, from: r.body) } catch {
            throw OpenStackError(call: call, status: r.status, message: "unreadable token: \(error)")
        }
        let expires = Self.parseDate(body.token.expires_at) ?? Date().addingTimeInterval(600)
        let t = Token(value: value, expires: expires, catalog: body.token.catalog ?? [], projectID: body.token.project?.id)
        token = t
        return t
    }

    /// What Keystone says of a user's token (`GET /v3/auth/tokens` with `X-Subject-Token`,
    /// authenticated by this session's own token): nil when it is not valid (expired,
    /// revoked, unknown: Keystone answers 404).
    public struct TokenInfo: Sendable, Equatable {
        public var user: String
        public var project: String?
        public var roles: [String]
        public var expires: Date
    }

    struct ValidatedBody: Decodable {
        var token: Inner
        struct Inner: Decodable {
            var expires_at: String
            var user: Named?
            var project: Named?
            var roles: [Named]?
        }
        struct Named: Decodable {
            var id: String?
            var name: String?
        }
    }

    public func validate(subjectToken: String) async throws(OpenStackError) -> TokenInfo? {
        let base = credentials.authURL.hasSuffix("/") ? String(credentials.authURL.dropLast()) : credentials.authURL
        let url = (base.hasSuffix("/v3") ? base : base + "/v3") + "/auth/tokens?nocatalog"
        let call = "keystone: GET /v3/auth/tokens"
        var r = try await http.send("GET", url, headers: ["X-Auth-Token": try await currentToken(), "X-Subject-Token": subjectToken], call: call)
        if r.status == 401 {
            invalidate()  // our own token was refused: once more with a new one
            r = try await http.send("GET", url, headers: ["X-Auth-Token": try await currentToken(), "X-Subject-Token": subjectToken], call: call)
        }
        if r.status == 404 { return nil }
        guard r.status == 200 else {
            throw OpenStackError(call: call, status: r.status, message: HTTPClient.message(r.body), requestID: r.requestID)
        }
        let body: ValidatedBody
        do { body = try JSONValueDecoder().decode(ValidatedBody.self, from: r.body) } catch {
            throw OpenStackError(call: call, status: r.status, message: "unreadable token: \(error)")
        }
        guard let expires = Self.parseDate(body.token.expires_at) else {
            throw OpenStackError(call: call, status: r.status, message: "unreadable expires_at '\(body.token.expires_at)'")
        }
        return TokenInfo(
            user: body.token.user?.name ?? body.token.user?.id ?? "", project: body.token.project?.id,
            roles: (body.token.roles ?? []).compactMap(\.name), expires: expires)
    }

    static func parseDate(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: s)
    }
}
