import Foundation
import Yams

/// How to reach and authenticate to an OpenStack cloud, read the way the OpenStack client
/// tools do: a named cloud of `clouds.yaml` (`OS_CLIENT_CONFIG_FILE`, `./clouds.yaml`,
/// `~/.config/openstack/clouds.yaml`, `/etc/openstack/clouds.yaml`; the name from `OS_CLOUD`
/// or the caller), or `OS_*` environment variables. `description` never shows a secret.
public struct CloudCredentials: Sendable, Equatable, CustomStringConvertible {
    public enum Method: Sendable, Equatable {
        case password(username: String, password: String, userDomain: String, project: String, projectDomain: String)
        /// An application credential, by id, or by name with its user.
        case applicationCredential(id: String?, name: String?, username: String?, userDomain: String, secret: String)
    }

    public var authURL: String
    public var method: Method
    public var region: String?
    /// The catalog interface to use (`public`, `internal`, `admin`).
    public var interface: String
    /// Where they came from, for messages.
    public var source: String

    public init(authURL: String, method: Method, region: String? = nil, interface: String = "public", source: String) {
        self.authURL = authURL
        self.method = method
        self.region = region
        self.interface = interface
        self.source = source
    }

    public var description: String {
        let who: String =
            switch method {
            case .password(let u, _, let ud, let p, _): "password of \(u)@\(ud) for project \(p)"
            case .applicationCredential(let id, let name, _, _, _): "application credential \(id ?? name ?? "?")"
            }
        return "\(source): \(who) at \(authURL)\(region.map { " (\($0))" } ?? "")"
    }

    public struct ConfigError: Error, CustomStringConvertible, Sendable {
        public var description: String
        init(_ d: String) { description = d }
    }

    static func searchPath(_ env: [String: String]) -> [String] {
        var paths: [String] = []
        if let p = env["OS_CLIENT_CONFIG_FILE"] { paths.append(p) }
        paths.append(FileManager.default.currentDirectoryPath + "/clouds.yaml")
        if let home = env["HOME"] { paths.append(home + "/.config/openstack/clouds.yaml") }
        paths.append("/etc/openstack/clouds.yaml")
        return paths
    }

    /// The credentials for `cloud` (or `OS_CLOUD`), else from `OS_*` variables.
    /// - Parameter file: a clouds.yaml to use instead of the search path.
    public static func load(cloud: String? = nil, file: String? = nil, env: [String: String] = ProcessInfo.processInfo.environment)
        throws(ConfigError) -> CloudCredentials
    {
        if let name = cloud ?? env["OS_CLOUD"] {
            let paths = file.map { [$0] } ?? searchPath(env)
            for path in paths where FileManager.default.fileExists(atPath: path) {
                if let c = try fromCloudsYAML(path: path, cloud: name) { return c }
            }
            throw ConfigError("cloud '\(name)' is in none of: \(paths.joined(separator: ", "))")
        }
        return try fromEnvironment(env)
    }

    static func fromEnvironment(_ env: [String: String]) throws(ConfigError) -> CloudCredentials {
        guard let url = env["OS_AUTH_URL"] else {
            throw ConfigError("no OpenStack credentials: set OS_CLOUD (clouds.yaml) or OS_AUTH_URL and the other OS_* variables")
        }
        return try make(
            [
                "auth_url": url, "username": env["OS_USERNAME"], "password": env["OS_PASSWORD"],
                "project_name": env["OS_PROJECT_NAME"] ?? env["OS_TENANT_NAME"], "user_domain_name": env["OS_USER_DOMAIN_NAME"],
                "project_domain_name": env["OS_PROJECT_DOMAIN_NAME"],
                "application_credential_id": env["OS_APPLICATION_CREDENTIAL_ID"],
                "application_credential_name": env["OS_APPLICATION_CREDENTIAL_NAME"],
                "application_credential_secret": env["OS_APPLICATION_CREDENTIAL_SECRET"],
            ].compactMapValues { $0 }, authType: env["OS_AUTH_TYPE"], region: env["OS_REGION_NAME"], interface: env["OS_INTERFACE"],
            source: "OS_* variables")
    }

    static func fromCloudsYAML(path: String, cloud: String) throws(ConfigError) -> CloudCredentials? {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch { throw ConfigError("\(path): \(error)") }
        let root: Any?
        do { root = try Yams.load(yaml: text) } catch { throw ConfigError("\(path): not valid YAML: \(error)") }
        guard let clouds = (root as? [String: Any])?["clouds"] as? [String: Any] else {
            throw ConfigError("\(path): no 'clouds' mapping")
        }
        guard let entry = clouds[cloud] else { return nil }
        guard let c = entry as? [String: Any], let auth = c["auth"] as? [String: Any] else {
            throw ConfigError("\(path): clouds.\(cloud) has no 'auth' mapping")
        }
        var flat: [String: String] = [:]
        for (k, v) in auth { flat[k] = "\(v)" }
        if flat["password"] != nil || flat["application_credential_secret"] != nil {
            try refuseIfEveryoneCanRead(path, cloud: cloud)
        }
        return try make(
            flat, authType: c["auth_type"] as? String, region: c["region_name"] as? String, interface: c["interface"] as? String,
            source: "\(path) cloud '\(cloud)'")
    }

    /// A clouds.yaml that holds a password or secret must not be readable by everyone
    /// (its group may read it: Nova's own services often share one file with a group).
    static func refuseIfEveryoneCanRead(_ path: String, cloud: String) throws(ConfigError) {
        var st = stat()
        guard stat(path, &st) == 0 else { throw ConfigError("\(path): cannot stat it (errno \(errno))") }
        if st.st_mode & 0o004 != 0 {
            throw ConfigError(
                "\(path) holds the secret of cloud '\(cloud)' and is readable by everyone (mode \(String(st.st_mode & 0o777, radix: 8))): refusing it; chmod o-r \(path)")
        }
    }

    static func make(_ a: [String: String], authType: String?, region: String?, interface: String?, source: String)
        throws(ConfigError) -> CloudCredentials
    {
        guard let url = a["auth_url"], !url.isEmpty else { throw ConfigError("\(source): no auth_url") }
        let userDomain = a["user_domain_name"] ?? a["user_domain_id"] ?? "Default"
        let method: Method
        let isAppCred =
            authType == "v3applicationcredential" || a["application_credential_id"] != nil || a["application_credential_secret"] != nil
        if isAppCred {
            guard let secret = a["application_credential_secret"] else { throw ConfigError("\(source): no application_credential_secret") }
            guard a["application_credential_id"] != nil || (a["application_credential_name"] != nil && a["username"] != nil) else {
                throw ConfigError("\(source): an application credential needs its id, or its name and username")
            }
            method = .applicationCredential(
                id: a["application_credential_id"], name: a["application_credential_name"], username: a["username"],
                userDomain: userDomain, secret: secret)
        } else {
            guard let user = a["username"], let password = a["password"], let project = a["project_name"] else {
                throw ConfigError("\(source): password auth needs username, password and project_name")
            }
            method = .password(
                username: user, password: password, userDomain: userDomain, project: project,
                projectDomain: a["project_domain_name"] ?? a["project_domain_id"] ?? "Default")
        }
        let iface = interface ?? "public"
        guard ["public", "internal", "admin"].contains(iface) else { throw ConfigError("\(source): unknown interface '\(iface)'") }
        return CloudCredentials(authURL: url, method: method, region: region, interface: iface, source: source)
    }
}
