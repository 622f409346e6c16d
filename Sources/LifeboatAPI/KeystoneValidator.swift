import Foundation
import LifeboatCore
import LifeboatOpenStack

/// Validates callers' tokens with Keystone (as keystonemiddleware does): the service's own
/// credentials (clouds.yaml) ask `GET /v3/auth/tokens`; answers are cached until the token
/// expires, at most `cacheSeconds`, so that a burst of requests costs one Keystone call.
/// A token Keystone refuses is cached as refused for a short while too.
public actor KeystoneValidator: TokenValidator {
    let session: KeystoneSession
    public nonisolated let authURL: String
    let cacheSeconds: Double
    var cache: [String: (Caller?, Double)] = [:]

    public init(session: KeystoneSession, cacheSeconds: Double = 300) {
        self.session = session
        self.authURL = session.credentials.authURL
        self.cacheSeconds = cacheSeconds
    }

    public func validate(_ token: String) async throws(APIFault) -> Caller {
        let now = Date().timeIntervalSince1970
        if let (caller, until) = cache[token], until > now {
            guard let caller, caller.expires > now else { throw Self.refused }
            return caller
        }
        let info: KeystoneSession.TokenInfo?
        do { info = try await session.validate(subjectToken: token) } catch {
            throw APIFault(503, "cannot validate the token with Keystone: \(error)", headers: [("Retry-After", "5")])
        }
        if cache.count > 10_000 { cache = cache.filter { $0.value.1 > now } }
        guard let info, info.expires.timeIntervalSince1970 > now else {
            cache[token] = (nil, now + 10)
            throw Self.refused
        }
        let caller = Caller(user: info.user, project: info.project, roles: Set(info.roles), expires: info.expires.timeIntervalSince1970)
        cache[token] = (caller, min(caller.expires, now + cacheSeconds))
        return caller
    }

    static let refused = APIFault(401, "The request you have made requires authentication: the token is not valid (expired, revoked or unknown).")
}
