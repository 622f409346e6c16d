import LifeboatCore
import Testing

/// Malformed or inconsistent scenarios fail with a message that names the problem and
/// where it is; they never crash.
@Suite struct ScenarioParsingTests {
    static let valid = """
        {"cluster": {
          "segments": [{"name": "rack-a", "recovery_method": "reserved_host", "enabled": true}],
          "hosts": [
            {"name": "c1", "segment": "rack-a", "node_id": 1, "reserved": false, "maintenance": false,
             "capacity": {"vcpus": 16, "ram_mb": 65536, "disk_gb": 500}},
            {"name": "c2", "segment": "rack-a", "node_id": 2, "reserved": true,
             "capacity": {"vcpus": 16, "ram_mb": 65536, "disk_gb": 500}}],
          "instances": [{"id": "vm-1", "host": "c1", "ha": true, "priority": 0,
                         "flavor": {"vcpus": 2, "ram_mb": 4096, "disk_gb": 20}}],
          "policy": {"process_restart_limit": 3, "instance_restart_limit": 3, "max_concurrent_host_recoveries": 2}},
         "faults": {"fence": {"c1": "fail"}, "process_restart": {"c2": "fail"}, "evacuate": {"vm-1": "fail"}},
         "events": [{"at": 0.0, "kind": "node_lost", "host": "c1"},
                    {"at": 5.0, "kind": "process_failed", "host": "c2", "process": "nova-compute"},
                    {"at": 9.0, "kind": "instance_failed", "instance": "vm-1"},
                    {"at": 12.0, "kind": "quorum", "quorate": false},
                    {"at": 20.0, "kind": "maintenance", "host": "c2", "on": true},
                    {"at": 30.0, "kind": "fence_confirmed_by_operator", "host": "c1"},
                    {"at": 40.0, "kind": "node_joined", "host": "c1"}]}
        """

    @Test func test_contractExample_parses() throws {
        let s = try Scenario.parse(Self.valid)
        #expect(s.hosts.count == 2)
        #expect(s.events.count == 7)
        #expect(s.faults.fence["c1"] == .fail)
        #expect(s.segments[0].recoveryMethod == .reservedHost)
        #expect(Simulator.run(s).violations.isEmpty)
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var from: String
        var to: String
        var expected: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "unknown top-level key", from: "\"faults\":", to: "\"fault\":", expected: "fault: unknown key"),
        Case(name: "unknown host key", from: "\"reserved\": false,", to: "\"reserve\": false,", expected: "cluster.hosts[0].reserve: unknown key"),
        Case(name: "instance on an unknown host", from: "\"host\": \"c1\", \"ha\"", to: "\"host\": \"c9\", \"ha\"",
             expected: "cluster.instances[0].host: unknown host 'c9'"),
        Case(name: "duplicate host name", from: "\"name\": \"c2\"", to: "\"name\": \"c1\"", expected: "cluster.hosts[1].name: duplicate host name 'c1'"),
        Case(name: "duplicate node id", from: "\"node_id\": 2", to: "\"node_id\": 1", expected: "cluster.hosts[1].node_id: node id 1 is already used"),
        Case(name: "negative capacity", from: "\"vcpus\": 16, \"ram_mb\": 65536, \"disk_gb\": 500}},\n    {\"name\": \"c2\"",
             to: "\"vcpus\": -16, \"ram_mb\": 65536, \"disk_gb\": 500}},\n    {\"name\": \"c2\"",
             expected: "cluster.hosts[0].capacity.vcpus: must not be negative"),
        Case(name: "unknown recovery method", from: "\"reserved_host\"", to: "\"reserved\"", expected: "cluster.segments[0].recovery_method: unknown recovery method 'reserved'"),
        Case(name: "unknown segment", from: "\"segment\": \"rack-a\", \"node_id\": 2", to: "\"segment\": \"rack-b\", \"node_id\": 2",
             expected: "cluster.hosts[1].segment: unknown segment 'rack-b'"),
        Case(name: "unknown event kind", from: "\"kind\": \"node_lost\"", to: "\"kind\": \"node_lots\"", expected: "events[0].kind: unknown event kind 'node_lots'"),
        Case(name: "event for an unknown host", from: "\"kind\": \"node_joined\", \"host\": \"c1\"", to: "\"kind\": \"node_joined\", \"host\": \"cx\"",
             expected: "events[6].host: unknown host 'cx'"),
        Case(name: "events out of order", from: "{\"at\": 40.0", to: "{\"at\": 3.0", expected: "events[6].at: 3.0 comes before"),
        Case(name: "wrong type", from: "\"quorate\": false", to: "\"quorate\": \"no\"", expected: "events[3].quorate: expected true or false, found a string"),
        Case(name: "unknown fault mode", from: "{\"c1\": \"fail\"}", to: "{\"c1\": \"explode\"}", expected: "faults.fence.c1: unknown fault 'explode'"),
        Case(name: "fault for an unknown instance", from: "{\"vm-1\": \"fail\"}", to: "{\"vm-9\": \"fail\"}", expected: "faults.evacuate.vm-9: unknown instance 'vm-9'"),
        Case(name: "bad policy", from: "\"max_concurrent_host_recoveries\": 2", to: "\"max_concurrent_host_recoveries\": 0",
             expected: "cluster.policy.max_concurrent_host_recoveries: must be at least 1"),
        Case(name: "fractional count", from: "\"priority\": 0", to: "\"priority\": 0.5", expected: "cluster.instances[0].priority: expected a whole number"),
        Case(name: "missing capacity", from: ",\n     \"capacity\": {\"vcpus\": 16, \"ram_mb\": 65536, \"disk_gb\": 500}},\n    {\"name\": \"c2\"",
             to: "},\n    {\"name\": \"c2\"", expected: "cluster.hosts[0].capacity: is required"),
        Case(name: "instance too big for its host", from: "\"flavor\": {\"vcpus\": 2", to: "\"flavor\": {\"vcpus\": 20",
             expected: "cluster.instances[0]: instance vm-1 does not fit on c1"),
        Case(name: "syntax error with position", from: "\"events\": [", to: "\"events\": [,", expected: "invalid JSON at line 12, column 13"),
        Case(name: "duplicate key", from: "\"ha\": true,", to: "\"ha\": true, \"ha\": false,", expected: "duplicate key 'ha'"),
    ]

    @Test(arguments: cases)
    func test_invalidScenario_failsWithThePlaceNamed(_ c: Case) {
        #expect(Self.valid.contains(c.from), "test case does not apply: \(c.from)")
        let text = Self.valid.replacingOccurrences(c.from, with: c.to)
        do {
            _ = try Scenario.parse(text)
            Issue.record("accepted: \(c.name)")
        } catch {
            #expect(error.description.contains(c.expected), "got: \(error.description)")
        }
    }

    /// Notifications in scenarios are checked as the API checks a posted one.
    @Test(arguments: [
        (#"{"type": "COMPUTE_HOST", "host": "c1", "payload": {"host_status": "NORMAL"}}"#, "events[0].payload.event: is required for a COMPUTE_HOST notification"),
        (#"{"type": "COMPUTE_HOST", "host": "c1", "payload": {"event": "STOPPED", "host_status": "MAYBE"}}"#, "events[0].payload.host_status: unknown value 'MAYBE'"),
        (#"{"type": "COMPUTE_HOST", "host": "c1", "payload": {"event": "STOPPED", "process_name": "x"}}"#, "events[0].payload.process_name: is not a field of a COMPUTE_HOST payload"),
        (#"{"type": "PROCESS", "host": "c1", "payload": {"event": "STOPPED"}}"#, "events[0].payload.process_name: is required for a PROCESS notification"),
        (#"{"type": "VM", "host": "c1", "payload": {"event": "LIFECYCLE", "instance_uuid": "vm-1", "vir_domain_event": 3}}"#, "events[0].payload.vir_domain_event: expected a string, found a number"),
        (#"{"type": "HOST", "host": "c1", "payload": {"event": "STOPPED"}}"#, "events[0].type: unknown value 'HOST'"),
        (#"{"type": "COMPUTE_HOST", "host": "c9", "payload": {"event": "STOPPED"}}"#, "events[0].host: unknown host 'c9'"),
        (#"{"type": "COMPUTE_HOST", "host": "c1", "uuid": "abc", "payload": {"event": "STOPPED"}}"#, "events[0].uuid: 'abc' is not a uuid"),
        (#"{"type": "COMPUTE_HOST", "host": "c1", "payload": {"event": "STOPPED"}, "status": "finished"}"#, "events[0].status: unknown key"),
    ])
    func test_badNotificationEvent_failsWithThePlaceNamed(_ body: String, _ expected: String) {
        let text = Self.valid.replacingOccurrences(
            #"[{"at": 0.0, "kind": "node_lost", "host": "c1"},"#, with: #"[{"at": 0.0, "kind": "notification", "# + body.dropFirst() + ",")
        #expect(text != Self.valid)
        do {
            _ = try Scenario.parse(text)
            Issue.record("accepted: \(body)")
        } catch {
            #expect(error.description.contains(expected), "got: \(error.description)")
        }
    }

    @Test func test_notificationEvent_getsAStableUUIDAndTheEventsTime() throws {
        let text = Self.valid.replacingOccurrences(
            #"{"at": 5.0, "kind": "process_failed", "host": "c2", "process": "nova-compute"},"#,
            with: #"{"at": 5.0, "kind": "notification", "type": "PROCESS", "host": "c2", "payload": {"event": "STOPPED", "process_name": "nova-compute"}},"#)
        let a = try Scenario.parse(text)
        let b = try Scenario.parse(text)
        guard case .notificationReceived(let n) = a.events[1].event else {
            Issue.record("not a notification: \(a.events[1].event)")
            return
        }
        #expect(RecordIdentity.isUUID(n.identity.uuid) && n.generatedAt == 5 && n.generatedTime == "1970-01-01T00:00:05.000000")
        #expect(a.events[1].event == b.events[1].event, "the same file gives the same uuid")
        #expect(n.payloadValue("process_name") == "nova-compute" && n.type == .process && n.hostname == "c2")
    }

    @Test func test_garbageInput_neverCrashes() {
        let inputs = ["", "null", "[]", "{", "{\"cluster\": 5}", String(repeating: "[", count: 10_000), "\u{0}", "{\"cluster\":{}, \"extra\": 1}"]
        for text in inputs {
            #expect(throws: ScenarioError.self) { _ = try Scenario.parse(text) }
        }
    }
}

extension String {
    /// Foundation-free replacement, so the tests need only the standard library.
    func replacingOccurrences(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var rest = self[...]
        while let r = rest.firstRange(of: target) {
            out += rest[..<r.lowerBound] + replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}
