import Foundation
import LifeboatCore
import LifeboatOpenStack

/// Validates callers' tokens with Keystone (as keystonemiddleware does): the service's own
/// credentials (clouds.yaml) ask `GET /v3/auth/tokens`; answers are cached until the token
/// expires, at most `cacheSeconds` (keystonemiddleware's `token_cache_time` is 300 s too),
/// so that a burst of requests costs one Keystone call. A token Keystone refuses is cached
/// as refused for a short while. The credentials are read on first use and again after a
/// failure, so a clouds.yaml written after lifeboatd started is picked up.
public actor KeystoneValidator: TokenValidator {
    let cloud: String?
    let file: String?
    let cacheSeconds: Double
    var session: KeystoneSession? = nil
    var cache: [String: (Caller?, Double)] = [:]

    public init(cloud: String?, file: String?, cacheSeconds: Double = 300) {
        self.cloud = cloud
        self.file = file
        self.cacheSeconds = cacheSeconds
    }

    func keystone() throws(APIFault) -> KeystoneSession {
        if let session { return session }
        do {
            let s = KeystoneSession(try CloudCredentials.load(cloud: cloud, file: file))
            session = s
            return s
        } catch {
            throw APIFault(503, "cannot validate tokens: the service credentials cannot be read: \(error)", headers: [("Retry-After", "5")])
        }
    }

    public func authURL() async -> String? { try? keystone().credentials.authURL }

    public func validate(_ token: String) async throws(APIFault) -> Caller {
        let now = Date().timeIntervalSince1970
        if let (caller, until) = cache[token], until > now {
            guard let caller, caller.expires > now else { throw Self.refused }
            return caller
        }
        let info: KeystoneSession.TokenInfo?
        do { info = try await keystone().validate(subjectToken: token) } catch let e as OpenStackError {
            throw APIFault(503, "cannot validate the token with Keystone: \(e)", headers: [("Retry-After", "5")])
        } catch let f as APIFault {
            throw f
        } catch {
            throw APIFault(503, "cannot validate the token with Keystone: \(error)")
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
