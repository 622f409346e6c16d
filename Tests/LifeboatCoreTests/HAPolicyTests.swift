import LifeboatCore
import Testing

/// Issue 12, HA policy levels: rules by project, aggregate, zone, host or segment, with
/// priorities and an explicit per-instance opt-out; the effective protection drives
/// recovery.
@Suite struct HAPolicyTests {
    /// Segment s: h1 (aggregate ssd, zone az1) with vm1 (project gold, untagged), vm2
    /// (project gold, opted out), vm3 (project batch, untagged), vm4 (tagged); h2, h3 empty.
    static func state(rules: [HARule] = [], evacuateAll: Bool = false) -> ClusterState {
        let cap = Capacity(vcpus: 32, ramMB: 65536, diskGB: 500)
        var h1 = Host(name: "h1", segment: "s", nodeID: 1, capacity: cap)
        h1.aggregates = ["ssd"]
        h1.availabilityZone = "az1"
        let small = Capacity(vcpus: 1, ramMB: 1024, diskGB: 10)
        var vm1 = Instance(id: "vm1", host: "h1", ha: false, flavor: small)
        vm1.project = "gold"
        var vm2 = Instance(id: "vm2", host: "h1", ha: false, flavor: small)
        vm2.project = "gold"
        vm2.tag = .off
        var vm3 = Instance(id: "vm3", host: "h1", ha: false, flavor: small)
        vm3.project = "batch"
        let vm4 = Instance(id: "vm4", host: "h1", ha: true, flavor: small)
        var policy = Policy()
        policy.evacuateAll = evacuateAll
        return ClusterState(
            configuration: ClusterConfiguration(
                segments: [Segment(name: "s", recoveryMethod: .auto)],
                hosts: [h1, Host(name: "h2", segment: "s", nodeID: 2, capacity: cap), Host(name: "h3", segment: "s", nodeID: 3, capacity: cap)],
                instances: [vm1, vm2, vm3, vm4], policy: policy, haRules: rules))
    }

    static func rule(_ name: String, project: String? = nil, aggregate: String? = nil, zone: String? = nil, host: String? = nil,
                     segment: String? = nil, protect: Bool = true, priority: Int = 0) -> HARule {
        var r = HARule(name: name, protect: protect, priority: priority)
        r.project = project
        r.aggregate = aggregate
        r.availabilityZone = zone
        r.host = host
        r.segment = segment
        return r
    }

    func protected(_ s: ClusterState) -> Set<String> { Set(s.instances.values.filter(\.ha).map(\.id)) }

    @Test func test_withoutRules_onlyTheTagProtects() {
        #expect(protected(Self.state()) == ["vm4"])
    }

    @Test(arguments: [
        (rule("p", project: "gold"), Set(["vm1", "vm4"])),
        (rule("a", aggregate: "ssd"), Set(["vm1", "vm3", "vm4"])),
        (rule("z", zone: "az1"), Set(["vm1", "vm3", "vm4"])),
        (rule("h", host: "h1"), Set(["vm1", "vm3", "vm4"])),
        (rule("s", segment: "s"), Set(["vm1", "vm3", "vm4"])),
        (rule("none", aggregate: "hdd"), Set(["vm4"])),
        (rule("both", project: "batch", aggregate: "ssd"), Set(["vm3", "vm4"])),
    ])
    func test_eachLevel_protectsWhatItMatches_andNeverAnOptOut(_ rule: HARule, _ expected: Set<String>) {
        let s = Self.state(rules: [rule])
        #expect(protected(s) == expected)
        #expect(s.protection(of: s.instances["vm2"]!).source == "opt_out")
    }

    @Test func test_higherPriority_carvesAnExceptionOutOfABroaderRule() {
        let s = Self.state(rules: [Self.rule("zone", zone: "az1", priority: 1), Self.rule("no-batch", project: "batch", protect: false, priority: 5)])
        #expect(protected(s) == ["vm1", "vm4"])
        let why = s.protection(of: s.instances["vm3"]!)
        #expect(!why.protected && why.rule == "no-batch" && why.reason.contains("excluded by rule no-batch"))
        #expect(s.protection(of: s.instances["vm1"]!).rule == "zone")
        // The instance's own tag beats every rule.
        #expect(s.protection(of: s.instances["vm4"]!).source == "tag")
    }

    @Test func test_evacuateAll_isTheLastWord_afterRulesAndOptOuts() {
        let s = Self.state(rules: [Self.rule("no-batch", project: "batch", protect: false)], evacuateAll: true)
        #expect(protected(s) == ["vm1", "vm4"])
    }

    @Test func test_ruleEvents_andInventoryFacts_refreshProtection_andBadOnesChangeNothing() throws {
        var s = Self.state()
        try s.apply(.haRuleSaved(Self.rule("gold", project: "gold")), at: 1)
        #expect(protected(s) == ["vm1", "vm4"])
        try s.apply(.haRuleSaved(Self.rule("gold", aggregate: "ssd")), at: 2)  // replaced by name
        #expect(protected(s) == ["vm1", "vm3", "vm4"])
        try s.apply(.inventory([.hostFacts(host: "h1", aggregates: ["hdd"], availabilityZone: "az2")]), at: 3)
        #expect(protected(s) == ["vm4"])
        try s.apply(.haRuleRemoved(name: "gold"), at: 4)
        try s.apply(.haTag(instance: "vm2", tag: .none), at: 5)  // the opt-out cleared: still nothing protects it
        #expect(protected(s) == ["vm4"])
        let before = s
        #expect(throws: EventRejected.self) { try s.apply(.haRuleSaved(HARule(name: "empty")), at: 6) }
        #expect(throws: EventRejected.self) { try s.apply(.haRuleRemoved(name: "nope"), at: 6) }
        #expect(s == before)
    }

    @Test func test_aCrash_evacuatesWhatRulesProtect_notTheOptedOut() {
        var scenario = Scenario(
            segments: [Segment(name: "s", recoveryMethod: .auto)], hosts: Array(Self.state().hosts.values.sorted { $0.name < $1.name }),
            instances: Self.state().instances.values.sorted { $0.id < $1.id }.map { i in
                var c = Instance(id: i.id, host: i.host, ha: i.tag == .on, priority: i.priority, flavor: i.flavor)
                c.tag = i.tag
                c.project = i.project
                return c
            }, policy: Policy(), faults: Faults(), durations: [:], events: [TimedEvent(at: 0, .nodeLost(host: "h1"))])
        scenario.haRules = [Self.rule("gold", project: "gold")]
        let r = Simulator.run(scenario)
        let moved = Set(Lab.actions(r).filter { $0.hasPrefix("evacuate") }.map { String($0.split(separator: " ")[1]) })
        #expect(moved == ["vm1", "vm4"])
        #expect(r.final.instances["vm2"]?.state == .stopped && r.final.instances["vm3"]?.state == .stopped)
        #expect(r.violations.isEmpty)
    }

    @Test func test_configuration_roundTrips_rulesTagsProjectsAndFacts() throws {
        let s = Self.state(rules: [Self.rule("gold", project: "gold", priority: 3), Self.rule("x", zone: "az1", protect: false)])
        let text = JSONWriter.write(s.configuration.json, timeKeys: [])
        let back = try ClusterConfiguration.parse(try JSONParser.parse(text))
        #expect(back == s.configuration)
        #expect(text.contains("\"ha_opt_out\":true") && text.contains("\"aggregates\":[\"ssd\"]"))
        let decoded = try ClusterState.decode(try JSONParser.parse(JSONWriter.write(s.json, timeKeys: [])), at: "")
        #expect(decoded == s)
    }

    @Test func test_badRules_inAFile_areRefusedWithThePlace() {
        for (rules, words) in [
            (#"[{"name": "r"}]"#, "at least one of"), (#"[{"name": "r", "project": "p"}, {"name": "r", "host": "h1"}]"#, "duplicate rule name"),
            (#"[{"name": "r", "colour": "blue"}]"#, "unknown key"), (#"[{"project": "p"}]"#, "name"),
        ] {
            let text = #"{"segments": [{"name": "s"}], "hosts": [{"name": "h1", "segment": "s", "capacity": {"vcpus": 1, "ram_mb": 1, "disk_gb": 1}}], "ha_rules": \#(rules)}"#
            #expect { try ClusterConfiguration.parse(try JSONParser.parse(text)) } throws: { "\($0)".contains(words) && "\($0)".contains("cluster.ha_rules") }
        }
    }
}
