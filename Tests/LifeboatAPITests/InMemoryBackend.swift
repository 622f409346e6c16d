import LifeboatAPI
import LifeboatCore

/// The API's backend as a plain state: a write applies the event at once, as the
/// replicated log would on this node (tests of the request handling, not of replication).
actor InMemoryBackend: APIBackend {
    var current: ClusterState
    var clock: Double = 1_790_000_000
    var computes: Set<String>? = nil
    var submitted: [Event] = []

    init(_ s: ClusterState) { current = s }

    func state() async -> ClusterState? { current }

    func submit(_ event: Event) async -> String? {
        clock += 1
        do {
            try current.apply(event, at: clock)
            submitted.append(event)
            return nil
        } catch { return error.reason }
    }

    func computeExists(_ host: String) async -> Result<Bool, APIFault>? { computes.map { .success($0.contains(host)) } }
    func status() async -> JSONValue { .object([("quorate", .bool(current.quorate))]) }
    func historyRequest(_ request: JSONValue) async -> JSONValue {
        .object([("ok", .bool(true)), ("records", .array([])), ("matched", .int(0)), ("request", request)])
    }
    func metrics() async -> String { "# in-memory backend\nlifeboat_members 0\n" }

    func set(_ s: ClusterState) { current = s }
    func setComputes(_ c: Set<String>?) { computes = c }

    /// Runs the leader's plan to its end, every action succeeding (fences confirm off).
    func recoverEverything() throws {
        if current.term == 0 { try current.apply(.leaderChanged(holder: TermHolder(node: 1, incarnation: 1)), at: clock) }
        for _ in 0..<50 {
            let plan = Scheduler.plan(current).filter { if case .notify = $0 { false } else { true } }
            if plan.isEmpty { break }
            for a in plan {
                clock += 0.5
                guard try current.start(a, at: clock) != nil else { continue }
                clock += 0.5
                if case .fence = a {
                    try current.finish(a.key, .off, at: clock)
                } else {
                    try current.finish(a.key, .ok, at: clock)
                }
            }
        }
    }
}

/// Checks tokens against a fixed table (Keystone's answers are tested in the lab).
struct TableValidator: TokenValidator {
    var table: [String: Caller]
    func authURL() async -> String? { "http://keystone.test/v3" }
    func validate(_ token: String) async throws(APIFault) -> Caller {
        guard let c = table[token] else { throw APIFault(401, "token not valid") }
        return c
    }
}

func cluster(detached: [String] = ["c4"]) throws -> ClusterState {
    let cap = Capacity(vcpus: 16, ramMB: 32768, diskGB: 200)
    var c = ClusterConfiguration(
        segments: [Segment(name: "rack-a", recoveryMethod: .auto)],
        hosts: [
            Host(name: "c1", segment: "rack-a", nodeID: 1, capacity: cap), Host(name: "c2", segment: "rack-a", nodeID: 2, capacity: cap),
            Host(name: "c3", segment: "rack-a", nodeID: 3, reserved: true, capacity: cap),
        ],
        instances: [
            Instance(id: "11111111-2222-4333-8444-555555555555", host: "c1", ha: true, flavor: Capacity(vcpus: 1, ramMB: 512, diskGB: 1)),
            Instance(id: "vm-b", host: "c1", ha: true, flavor: Capacity(vcpus: 1, ramMB: 512, diskGB: 1)),
        ])
    c.detachedHosts = detached.enumerated().map { n, name in Host(name: name, segment: "rack-a", nodeID: UInt32(10 + n), capacity: cap) }
    try c.validate()
    var s = ClusterState(configuration: c)
    try s.apply(.leaderChanged(holder: TermHolder(node: 1, incarnation: 1)), at: 1_789_999_000)
    return s
}

extension MasakariAPI {
    func call(_ method: String, _ target: String, _ body: String? = nil, version: String? = "1.3", token: String? = nil) async -> APIResponse {
        var headers = ["Host": "api.test:15868"]
        if let version { headers["OpenStack-API-Version"] = "instance-ha \(version)" }
        if let token { headers["X-Auth-Token"] = token }
        if body != nil { headers["Content-Type"] = "application/json" }
        return await handle(APIRequest(method: method, target: target, headers: headers, body: Array((body ?? "").utf8)))
    }
}

extension APIResponse {
    func at(_ path: String...) -> JSONValue? {
        var v = json
        for p in path {
            if let i = Int(p), case .array(let a) = v ?? .null { v = i < a.count ? a[i] : nil } else { v = v?[p] }
        }
        return v
    }
    var faultMessage: String? {
        guard case .object(let f) = json ?? .null, let first = f.first, case .string(let m) = first.1["message"] ?? .null else { return nil }
        return m
    }
}
