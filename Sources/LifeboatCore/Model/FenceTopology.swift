/// How a host is fenced: an ordered list of devices (Pacemaker's fencing topology). Level 1
/// runs first; the next level runs when it fails. Part of the replicated configuration,
/// so any node that becomes leader fences the same way. Secrets are never in it: a level
/// names a password *file*, which each node keeps readable by root only.
public struct FenceTopology: Hashable, Sendable {
    public var levels: [FenceDevice]
    /// Seconds to wait before fencing this host (Pacemaker's `pcmk_delay_base`): in a
    /// two-node cluster a different delay per host makes exactly one of two racing nodes
    /// survive a split.
    public var delay: Double

    public init(levels: [FenceDevice] = [], delay: Double = 0) {
        self.levels = levels
        self.delay = delay
    }
}

/// One fence level.
public struct FenceDevice: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// Native out-of-band IPMI 2.0 (lanplus) through libfreeipmi, in-process.
        case ipmi(IPMISettings)
        /// Any fence agent speaking the fence-agents stdin protocol (`fence_ipmilan`, …).
        case agent(AgentSettings)
    }

    public var kind: Kind
    /// Seconds one run of this level may take (power-off and confirmation).
    public var timeout: Double

    public init(kind: Kind, timeout: Double) {
        self.kind = kind
        self.timeout = timeout
    }

    /// For the record: `ipmi 192.168.240.111:623` or `agent fence_ipmilan`.
    public var name: String {
        switch kind {
        case .ipmi(let s): "ipmi \(s.address):\(s.port)"
        case .agent(let a): "agent \(a.agent)"
        }
    }
}

public struct IPMISettings: Hashable, Sendable {
    public var address: String
    public var port: Int = 623
    public var username: String
    public var passwordFile: String
    /// RMCP+ cipher suite (3: HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128).
    public var cipherSuite: Int = 3
    public var privilege: IPMIPrivilege = .admin
    /// FreeIPMI workaround names: for the IPMI session `opensesspriv`, `authcap`, `intel20`,
    /// `supermicro20`, `sun20`, `integritycheckvalue`, `nochecksumcheck`; for the serial
    /// console also `solpayloadsize`, `solchannelsupport`, `solport`.
    public var workarounds: [String] = []
    /// Attempts of each IPMI request before the level fails.
    public var retries: Int = 2
    /// Capture the serial console (SOL) when fencing.
    public var console: Bool = true

    public init(address: String, port: Int = 623, username: String, passwordFile: String) {
        self.address = address
        self.port = port
        self.username = username
        self.passwordFile = passwordFile
    }

    public static let knownWorkarounds = [
        "authcap", "intel20", "supermicro20", "sun20", "opensesspriv", "integritycheckvalue", "nochecksumcheck",
        "solpayloadsize", "solchannelsupport", "solport",
    ]
}

public enum IPMIPrivilege: String, Hashable, Sendable, CaseIterable {
    case user, `operator`, admin
}

public struct AgentSettings: Hashable, Sendable {
    /// An executable name found in the agent directories (`fence_ipmilan`), or a path.
    public var agent: String
    /// `key=value` lines for the agent's stdin (never `password` or `action`).
    public var parameters: [String: String]
    /// The agent gets `password=` from this file on its stdin, never on a command line.
    public var passwordFile: String?
    /// After the agent says off, confirm with its `status` action (exit 2: off).
    public var confirmStatus: Bool = true

    public init(agent: String, parameters: [String: String] = [:], passwordFile: String? = nil) {
        self.agent = agent
        self.parameters = parameters
        self.passwordFile = passwordFile
    }

    /// Parameters only Lifeboat sets.
    public static let reserved: Set<String> = ["action", "password", "passwd", "option", "nodename", "port_as_ip"]
}

extension FenceTopology {
    public var json: JSONValue {
        .object([("delay", .number(delay)), ("levels", .array(levels.map(\.json)))])
    }

    static func parse(_ v: JSONValue, at path: String) throws(ScenarioError) -> FenceTopology {
        var r = try ObjectReader(v, at: path)
        let delay = try r.number("delay", default: 0)
        guard delay >= 0, delay <= 600 else { throw ScenarioError(r.sub("delay"), "must be between 0 and 600 seconds") }
        let levels = try r.list("levels") { v, p throws(ScenarioError) in try FenceDevice.parse(v, at: p) }
        guard levels.count <= 8 else { throw ScenarioError(r.sub("levels"), "at most 8 levels") }
        try r.finish()
        return FenceTopology(levels: levels, delay: delay)
    }
}

extension FenceDevice {
    public var json: JSONValue {
        switch kind {
        case .ipmi(let s):
            return .object([
                ("type", .string("ipmi")), ("address", .string(s.address)), ("port", .int(s.port)),
                ("username", .string(s.username)), ("password_file", .string(s.passwordFile)),
                ("cipher_suite", .int(s.cipherSuite)), ("privilege", .string(s.privilege.rawValue)),
                ("workarounds", .strings(s.workarounds)), ("retries", .int(s.retries)), ("console", .bool(s.console)),
                ("timeout", .number(timeout)),
            ])
        case .agent(let a):
            var f: [(String, JSONValue)] = [
                ("type", .string("agent")), ("agent", .string(a.agent)),
                ("parameters", .object(a.parameters.keys.sorted().map { ($0, .string(a.parameters[$0]!)) })),
            ]
            if let p = a.passwordFile { f.append(("password_file", .string(p))) }
            f += [("confirm_status", .bool(a.confirmStatus)), ("timeout", .number(timeout))]
            return .object(f)
        }
    }

    static func parse(_ v: JSONValue, at path: String) throws(ScenarioError) -> FenceDevice {
        var r = try ObjectReader(v, at: path)
        func absolute(_ key: String) throws(ScenarioError) -> String {
            let p = try r.string(key)
            guard p.hasPrefix("/") else { throw ScenarioError(r.sub(key), "must be an absolute path (found '\(p)')") }
            return p
        }
        let type = try r.string("type")
        let device: FenceDevice
        switch type {
        case "ipmi":
            var s = IPMISettings(address: try r.string("address"), username: try r.string("username"), passwordFile: try absolute("password_file"))
            s.port = try r.int("port", default: 623)
            guard (1...65535).contains(s.port) else { throw ScenarioError(r.sub("port"), "must be a UDP port (1-65535)") }
            s.cipherSuite = try r.int("cipher_suite", default: 3)
            guard [0, 1, 2, 3, 6, 7, 8, 11, 12, 15, 16, 17].contains(s.cipherSuite) else {
                throw ScenarioError(r.sub("cipher_suite"), "unsupported cipher suite \(s.cipherSuite)")
            }
            s.privilege = try r.optional("privilege").map { v throws(ScenarioError) in
                try ObjectReader.choice(v, at: r.sub("privilege"), IPMIPrivilege.self)
            } ?? .admin
            s.workarounds = try r.stringList("workarounds")
            for w in s.workarounds where !IPMISettings.knownWorkarounds.contains(w) {
                throw ScenarioError(r.sub("workarounds"), "unknown workaround '\(w)' (one of: \(IPMISettings.knownWorkarounds.joined(separator: ", ")))")
            }
            s.retries = try r.int("retries", default: 2)
            guard (1...10).contains(s.retries) else { throw ScenarioError(r.sub("retries"), "must be between 1 and 10") }
            s.console = try r.bool("console", default: true)
            guard s.username.utf8.count <= 16 else { throw ScenarioError(r.sub("username"), "IPMI user names are at most 16 bytes") }
            device = FenceDevice(kind: .ipmi(s), timeout: try r.number("timeout", default: 10))
        case "agent":
            var a = AgentSettings(agent: try r.string("agent"))
            guard !a.agent.contains(" "), a.agent.hasPrefix("/") || !a.agent.contains("/") else {
                throw ScenarioError(r.sub("agent"), "an executable name or an absolute path")
            }
            if let params = r.optional("parameters") {
                let pr = try ObjectReader(params, at: r.sub("parameters"))
                for (k, v) in pr.members {
                    guard !AgentSettings.reserved.contains(k) else {
                        throw ScenarioError(pr.sub(k), "'\(k)' is set by Lifeboat (a password comes from password_file)")
                    }
                    guard !k.isEmpty, k.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 }) else {
                        throw ScenarioError(pr.sub(k), "not a fence-agent parameter name")
                    }
                    let value = try ObjectReader.string(v, at: pr.sub(k))
                    guard !value.contains("\n") else { throw ScenarioError(pr.sub(k), "must be one line") }
                    a.parameters[k] = value
                }
            }
            if r.optional("password_file") != nil { a.passwordFile = try absolute("password_file") }
            a.confirmStatus = try r.bool("confirm_status", default: true)
            device = FenceDevice(kind: .agent(a), timeout: try r.number("timeout", default: 30))
        default:
            throw ScenarioError(r.sub("type"), "unknown fence device type '\(type)' (one of: ipmi, agent)")
        }
        guard device.timeout > 0, device.timeout <= 600 else { throw ScenarioError(r.sub("timeout"), "must be between 0 and 600 seconds") }
        try r.finish()
        return device
    }
}
