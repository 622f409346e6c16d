import Foundation
import LifeboatCore

/// Nova's compute API, the calls Lifeboat needs, at one negotiated microversion: the
/// highest the cloud supports up to 2.87 (2.88 drops the hypervisors' capacity fields, and
/// from 2.95 an evacuated server ends SHUTOFF), and at least 2.68 (services by id, flavors
/// embedded in servers, migrations filtered by type, evacuation without onSharedStorage).
public actor NovaClient {
    public let keystone: KeystoneSession
    let http: HTTPClient
    var endpoint: String? = nil
    public private(set) var microversion: String? = nil

    public static let minimum = (2, 68)
    public static let preferred = (2, 87)

    public init(keystone: KeystoneSession, http: HTTPClient = HTTPClient()) {
        self.keystone = keystone
        self.http = http
    }

    // MARK: Models (Nova's field names)

    public struct Service: Decodable, Sendable, Equatable {
        public var id: String
        public var host: String
        public var binary: String
        public var status: String
        public var state: String
        public var forced_down: Bool?
        public var disabled_reason: String?
        public var zone: String?
        /// The service's last heartbeat (or change) as Nova recorded it: it moves every
        /// `report_interval` while nova-compute runs, also while it is forced down.
        public var updated_at: String?
    }

    public struct Flavor: Decodable, Sendable, Equatable {
        public var vcpus: Int
        public var ram: Int
        public var disk: Int
        public var original_name: String?
        public var extra_specs: [String: String]?
    }

    public struct Server: Decodable, Sendable, Equatable {
        public var id: String
        public var name: String
        public var status: String
        public var host: String?
        public var taskState: String?
        public var vmState: String?
        public var metadata: [String: String]
        public var flavor: Flavor?
        public var imageID: String?
        public var fault: String?
        /// The owning project, and the availability zone Nova placed it in.
        public var projectID: String?
        public var availabilityZone: String?

        enum CodingKeys: String, CodingKey {
            case id, name, status, metadata, flavor, image, fault
            case projectID = "tenant_id"
            case availabilityZone = "OS-EXT-AZ:availability_zone"
            case host = "OS-EXT-SRV-ATTR:host"
            case taskState = "OS-EXT-STS:task_state"
            case vmState = "OS-EXT-STS:vm_state"
        }

        struct ImageRef: Decodable { var id: String? }
        struct Fault: Decodable { var message: String? }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(String.self, forKey: .id)
            name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
            status = try c.decode(String.self, forKey: .status)
            host = try c.decodeIfPresent(String.self, forKey: .host)
            taskState = try c.decodeIfPresent(String.self, forKey: .taskState)
            vmState = try c.decodeIfPresent(String.self, forKey: .vmState)
            metadata = try c.decodeIfPresent([String: String].self, forKey: .metadata) ?? [:]
            flavor = try c.decodeIfPresent(Flavor.self, forKey: .flavor)
            // A server booted from a volume has "image": "" instead of an object.
            imageID = (try? c.decodeIfPresent(ImageRef.self, forKey: .image))?.id
            fault = try c.decodeIfPresent(Fault.self, forKey: .fault)?.message
            projectID = try c.decodeIfPresent(String.self, forKey: .projectID)
            availabilityZone = try c.decodeIfPresent(String.self, forKey: .availabilityZone)
        }
    }

    public struct Hypervisor: Decodable, Sendable, Equatable {
        public var id: String
        public var hypervisor_hostname: String
        public var state: String
        public var status: String
        public var vcpus: Int?
        public var vcpus_used: Int?
        public var memory_mb: Int?
        public var memory_mb_used: Int?
        public var local_gb: Int?
        public var local_gb_used: Int?
        public var service: HostRef?
        public struct HostRef: Decodable, Sendable, Equatable { public var host: String }
    }

    public struct Migration: Decodable, Sendable, Equatable {
        public var id: Int
        public var instance_uuid: String
        public var status: String
        public var source_compute: String?
        public var dest_compute: String?
        public var migration_type: String?
    }

    public struct Aggregate: Decodable, Sendable, Equatable {
        public var id: Int
        public var name: String
        public var hosts: [String]?
        public var availability_zone: String?
        public var metadata: [String: String]?
    }

    // MARK: Plumbing

    func base() async throws(OpenStackError) -> (String, String) {
        if let e = endpoint, let v = microversion { return (e, v) }
        let e = try await keystone.endpoint("compute")
        let r = try await raw("GET", e + "/", call: "nova: GET / (versions)", microversion: nil)
        struct Versions: Decodable {
            var version: Version
            struct Version: Decodable { var version: String; var min_version: String }
        }
        guard r.status == 200, let v = try? JSONValueDecoder().decode(Versions.self, from: r.body) else {
            throw OpenStackError(call: "nova: GET /", status: r.status, message: "no version document at \(e)", requestID: r.requestID)
        }
        let max = Self.parse(v.version.version)
        guard max >= Self.minimum else {
            throw OpenStackError(
                call: "nova: GET /", status: r.status,
                message: "Nova supports microversions up to \(v.version.version); Lifeboat needs 2.\(Self.minimum.1)")
        }
        let chosen = max < Self.preferred ? max : Self.preferred
        endpoint = e
        microversion = "\(chosen.0).\(chosen.1)"
        return (e, microversion!)
    }

    static func parse(_ v: String) -> (Int, Int) {
        let p = v.split(separator: ".").compactMap { Int($0) }
        return p.count == 2 ? (p[0], p[1]) : (0, 0)
    }

    func raw(_ method: String, _ url: String, body: JSONValue? = nil, call: String, microversion: String?) async throws(OpenStackError)
        -> HTTPClient.Response
    {
        var headers = ["X-Auth-Token": try await keystone.currentToken()]
        if let microversion { headers["OpenStack-API-Version"] = "compute \(microversion)" }
        var r = try await http.send(method, url, headers: headers, body: body, call: call)
        if r.status == 401 {  // the token went stale: once more with a new one
            await keystone.invalidate()
            headers["X-Auth-Token"] = try await keystone.currentToken()
            r = try await http.send(method, url, headers: headers, body: body, call: call)
        }
        return r
    }

    /// A call to Nova; answers outside 2xx become errors naming the call.
    @discardableResult
    func call(_ method: String, _ path: String, body: JSONValue? = nil) async throws(OpenStackError) -> HTTPClient.Response {
        let (e, v) = try await base()
        let name = "nova: \(method) \(path.split(separator: "?").first.map(String.init) ?? path)"
        let r = try await raw(method, e + path, body: body, call: name, microversion: v)
        guard (200...299).contains(r.status) else {
            throw OpenStackError(call: name, status: r.status, message: HTTPClient.message(r.body), requestID: r.requestID)
        }
        return r
    }

    func decode<T: Decodable>(_ type: T.Type, _ r: HTTPClient.Response, _ what: String) throws(OpenStackError) -> T {
        do { return try JSONValueDecoder().decode(T.self, from: r.body) } catch {
            throw OpenStackError(call: what, status: r.status, message: "unexpected answer: \(error)", requestID: r.requestID)
        }
    }

    static func query(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? s }

    // MARK: Services

    public func computeServices(host: String? = nil) async throws(OpenStackError) -> [Service] {
        struct L: Decodable { var services: [Service] }
        var path = "/os-services?binary=nova-compute"
        if let host { path += "&host=\(Self.query(host))" }
        return try decode(L.self, try await call("GET", path), "nova: GET /os-services").services
    }

    public func computeService(host: String) async throws(OpenStackError) -> Service {
        guard let s = try await computeServices(host: host).first(where: { $0.host == host }) else {
            throw OpenStackError(call: "nova: GET /os-services", status: 200, message: "no nova-compute service on host \(host)")
        }
        return s
    }

    /// Marks the service forced down (Nova then accepts evacuations) or not.
    @discardableResult
    public func setForcedDown(_ id: String, _ down: Bool) async throws(OpenStackError) -> (Service, String?) {
        struct W: Decodable { var service: Service }
        let r = try await call("PUT", "/os-services/\(id)", body: .object([("forced_down", .bool(down))]))
        return (try decode(W.self, r, "nova: PUT /os-services").service, r.requestID)
    }

    @discardableResult
    public func setEnabled(_ id: String, _ enabled: Bool, reason: String? = nil) async throws(OpenStackError) -> (Service, String?) {
        struct W: Decodable { var service: Service }
        var body: [(String, JSONValue)] = [("status", .string(enabled ? "enabled" : "disabled"))]
        if !enabled, let reason { body.append(("disabled_reason", .string(String(reason.prefix(255))))) }
        let r = try await call("PUT", "/os-services/\(id)", body: .object(body))
        return (try decode(W.self, r, "nova: PUT /os-services").service, r.requestID)
    }

    // MARK: Servers

    /// Servers of every project (optionally of one host), all pages.
    public func servers(host: String? = nil) async throws(OpenStackError) -> [Server] {
        struct L: Decodable {
            var servers: [Server]
            var servers_links: [Link]?
            struct Link: Decodable { var rel: String; var href: String }
        }
        var all: [Server] = []
        var marker: String? = nil
        repeat {
            var path = "/servers/detail?all_tenants=1&limit=1000"
            if let host { path += "&host=\(Self.query(host))" }
            if let marker { path += "&marker=\(marker)" }
            let page = try decode(L.self, try await call("GET", path), "nova: GET /servers/detail")
            all += page.servers
            marker = page.servers_links?.contains { $0.rel == "next" } == true ? page.servers.last?.id : nil
        } while marker != nil
        return all
    }

    public func server(_ id: String) async throws(OpenStackError) -> Server {
        struct W: Decodable { var server: Server }
        return try decode(W.self, try await call("GET", "/servers/\(id)"), "nova: GET /servers/{id}").server
    }

    /// Rebuilds the server on `host`, or where Nova's scheduler places it (nil); its source
    /// must be forced down. Returns the request id.
    public func evacuate(_ id: String, to host: String?) async throws(OpenStackError) -> String? {
        let args: JSONValue = host.map { .object([("host", .string($0))]) } ?? .object([])
        let r = try await call("POST", "/servers/\(id)/action", body: .object([("evacuate", args)]))
        return r.requestID
    }

    /// Live migration to a named host, through Nova's scheduler checks (2.68: no `force`),
    /// block migration when there is no shared storage (`auto`).
    public func liveMigrate(_ id: String, to host: String) async throws(OpenStackError) -> String? {
        let args: JSONValue = .object([("host", .string(host)), ("block_migration", .string("auto"))])
        return try await call("POST", "/servers/\(id)/action", body: .object([("os-migrateLive", args)])).requestID
    }

    /// Cold migration of a stopped server to a named host (2.56+); it waits in
    /// VERIFY_RESIZE on the target until `confirmResize`.
    public func coldMigrate(_ id: String, to host: String) async throws(OpenStackError) -> String? {
        try await call("POST", "/servers/\(id)/action", body: .object([("migrate", .object([("host", .string(host))]))])).requestID
    }

    public func confirmResize(_ id: String) async throws(OpenStackError) -> String? {
        try await call("POST", "/servers/\(id)/action", body: .object([("confirmResize", .null)])).requestID
    }

    public func stop(_ id: String) async throws(OpenStackError) -> String? {
        try await call("POST", "/servers/\(id)/action", body: .object([("os-stop", .null)])).requestID
    }

    public func start(_ id: String) async throws(OpenStackError) -> String? {
        try await call("POST", "/servers/\(id)/action", body: .object([("os-start", .null)])).requestID
    }

    /// A hard reboot: the guest is created again from its definition (allowed from ERROR,
    /// SHUTOFF and ACTIVE). Returns the request id.
    public func hardReboot(_ id: String) async throws(OpenStackError) -> String? {
        try await call("POST", "/servers/\(id)/action", body: .object([("reboot", .object([("type", .string("HARD"))]))])).requestID
    }

    public func setMetadata(_ id: String, key: String, value: String?) async throws(OpenStackError) {
        let path = "/servers/\(id)/metadata/\(Self.query(key))"
        if let value {
            try await call("PUT", path, body: .object([("meta", .object([(key, .string(value))]))]))
        } else {
            do { try await call("DELETE", path) } catch where error.status == 404 {}
        }
    }

    // MARK: Capacity, aggregates, migrations

    public func hypervisors() async throws(OpenStackError) -> [Hypervisor] {
        struct L: Decodable { var hypervisors: [Hypervisor] }
        return try decode(L.self, try await call("GET", "/os-hypervisors/detail"), "nova: GET /os-hypervisors/detail").hypervisors
    }

    public func aggregates(host: String? = nil) async throws(OpenStackError) -> [Aggregate] {
        struct L: Decodable { var aggregates: [Aggregate] }
        let all = try decode(L.self, try await call("GET", "/os-aggregates"), "nova: GET /os-aggregates").aggregates
        guard let host else { return all }
        return all.filter { $0.hosts?.contains(host) == true }
    }

    public func evacuations(of instance: String) async throws(OpenStackError) -> [Migration] {
        try await migrations(of: instance, type: "evacuation")
    }

    /// Nova's migration records of one server and type (`evacuation`, `live-migration`), oldest first.
    public func migrations(of instance: String, type: String) async throws(OpenStackError) -> [Migration] {
        struct L: Decodable { var migrations: [Migration] }
        let r = try await call("GET", "/os-migrations?migration_type=\(type)&instance_uuid=\(instance)")
        return try decode(L.self, r, "nova: GET /os-migrations").migrations.sorted { $0.id < $1.id }
    }

    /// Nova's migration records of one type whose source is `host`, updated since `since`
    /// (the `changes-since` filter, microversion 2.59 and later: Lifeboat asks for 2.68 at
    /// least). One database query for nova-api, however many servers moved.
    public func migrations(from host: String, type: String, changedSince since: Date) async throws(OpenStackError) -> [Migration] {
        struct L: Decodable { var migrations: [Migration] }
        let f = ISO8601DateFormatter()
        f.timeZone = TimeZone(identifier: "UTC")
        let path = "/os-migrations?source_compute=\(Self.query(host))&migration_type=\(type)&changes-since=\(Self.query(f.string(from: since)))"
        let r = try await call("GET", path)
        return try decode(L.self, r, "nova: GET /os-migrations").migrations
    }

    /// An image's properties (for the `evacuable` tag), from the image service.
    public func imageProperties(_ id: String) async throws(OpenStackError) -> [String: JSONValue] {
        let e = try await keystone.endpoint("image")
        let path = e.hasSuffix("/v2") ? "/images/\(id)" : "/v2/images/\(id)"
        let r = try await raw("GET", e + path, call: "glance: GET /v2/images/{id}", microversion: nil)
        guard r.status == 200, case .object(let members)? = try? JSONParser.parse(bytes: r.body) else {
            throw OpenStackError(call: "glance: GET /v2/images/{id}", status: r.status, message: HTTPClient.message(r.body), requestID: r.requestID)
        }
        var out: [String: JSONValue] = [:]
        for (k, v) in members { out[k] = v }
        return out
    }
}
