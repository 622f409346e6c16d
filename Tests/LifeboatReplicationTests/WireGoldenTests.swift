import Foundation
import LifeboatCore
import Testing

@testable import LifeboatReplication

/// Issue 7, item 8: one explicit, versioned wire schema. Each message kind, encoded from a
/// fixed fixture, must equal its golden file for the current protocol version; a change of
/// the schema without a version bump fails here. To change the schema: bump
/// `WireMessage.currentVersion`, then regenerate with `LIFEBOAT_UPDATE_GOLDEN=1 swift test
/// --filter WireGoldenTests` and commit the new `Golden/vN` folder.
@Suite struct WireGoldenTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Golden/v\(WireMessage.currentVersion)")

    static let config = ClusterConfiguration(
        segments: [Segment(name: "rack-a", recoveryMethod: .rhPriority)],
        hosts: [
            {
                var h = Host(name: "c1", segment: "rack-a", nodeID: 1, capacity: Capacity(vcpus: 8, ramMB: 16384, diskGB: 100))
                var ipmi = IPMISettings(address: "10.0.0.1", username: "admin", passwordFile: "/etc/lifeboat/c1.pass")
                ipmi.workarounds = ["opensesspriv"]
                var agent = AgentSettings(agent: "fence_ipmilan", parameters: ["ip": "10.0.0.1", "lanplus": "1"], passwordFile: "/etc/lifeboat/c1.pass")
                agent.confirmStatus = true
                h.fencing = FenceTopology(
                    levels: [FenceDevice(kind: .ipmi(ipmi), timeout: 5), FenceDevice(kind: .agent(agent), timeout: 20)], delay: 2)
                return h
            }(),
            Host(name: "c2", segment: "rack-a", nodeID: 2, reserved: true, capacity: Capacity(vcpus: 8, ramMB: 16384, diskGB: 100)),
        ],
        instances: [Instance(id: "vm-1", host: "c1", ha: true, priority: 3, flavor: Capacity(vcpus: 2, ramMB: 2048, diskGB: 20))],
        resources: [
            {
                var r = Resource(name: "nova-compute", agent: "ocf:lifeboat:nova-compute")
                r.segment = "rack-a"
                r.params = ["config": "/etc/nova/nova.conf", "check_service": "true"]
                r.monitorInterval = 5
                r.startTimeout = 60
                r.restartLimit = 2
                r.failureTimeout = 600
                return r
            }(),
            {
                var r = Resource(name: "dummy", agent: "ocf:heartbeat:Dummy")
                r.hosts = ["c2"]
                r.onFail = .block
                return r
            }(),
        ])

    static let report = ActionReport(
        .off, message: "powered off by level 2", durationMS: 140,
        steps: [
            StepReport(name: "level 1: ipmi 10.0.0.1:623", outcome: .failed, durationMS: 90, error: "authentication failed"),
            StepReport(name: "level 2: fence_ipmilan", outcome: .off, durationMS: 50),
        ],
        attributes: ["device": "fence_ipmilan", "level": "2"], console: .captured("Kernel panic - not syncing\n"))

    /// One event of every kind.
    static let events: [Event] = [
        .nodeLost(host: "c1"), .nodeJoined(host: "c1"), .nodeUnseen(host: "c2"), .quorum(quorate: false),
        .processFailed(host: "c1", process: "nova-compute"), .processRecovered(host: "c1", process: "nova-compute"),
        .instanceFailed(instance: "vm-1"), .maintenance(host: "c2", on: true), .fenceConfirmedByOperator(host: "c1"),
        .fenceRequested(host: "c2"),
        .segmentEnabled(segment: "rack-a", on: false), .reserved(host: "c2", on: false), .haTag(instance: "vm-1", on: true),
        .stormReset(segment: "rack-a"), .configure(config),
        .haRuleSaved({
            var r = HARule(name: "gold", protect: true, priority: 10)
            r.project = "3f2a"
            r.aggregate = "ssd"
            return r
        }()), .haRuleRemoved(name: "gold"), .drain(host: "c1", on: true), .segmentMaintenance(segment: "rack-a", on: false),
        .actionStarted(.migrate(instance: "vm-1", from: "c1", to: "c2"), term: 4),
        .inventory([
            .instanceAdded(Instance(id: "vm-9", host: "c1", ha: true, priority: 1, flavor: Capacity(vcpus: 1, ramMB: 512, diskGB: 1))),
            .instanceRemoved(id: "vm-8"), .instanceMoved(id: "vm-1", host: "c2"),
            .instanceResized(id: "vm-1", flavor: Capacity(vcpus: 4, ramMB: 4096, diskGB: 40)), .instanceTagged(id: "vm-1", tag: .off),
            .hostFacts(host: "c2", aggregates: ["ssd"], availabilityZone: "az1"),
            .hostCapacity(host: "c2", capacity: Capacity(vcpus: 32, ramMB: 65536, diskGB: 1000)),
        ]), .leaderChanged(holder: TermHolder(node: 2, incarnation: 123_456_789)),
        .clock, .actionStarted(.fence(host: "c1"), term: 4),
        .actionStarted(.evacuate(instance: "vm-1", from: "c1", to: "c2"), term: 4),
        .actionStarted(.notify(Notice(kind: .noCapacity, key: "vm-1#1", reason: "no room", host: "c1", instance: "vm-1", segment: "rack-a")), term: 4),
        .actionFinished(key: "fence:c1", attempt: Attempt(term: 4, id: 17), report: report),
        .consoleCaptured(attempt: Attempt(term: 4, id: 17), console: .unavailable("no SOL on this BMC")),
        .resourceBlocked(host: "c2", process: "dummy", reason: "monitor exited 5 (OCF_ERR_INSTALLED)"),
        .resourceCleanup(host: "c2", process: "dummy"), .resourceRestart(host: "c1", process: "nova-compute"),
        .segmentSaved({
            var s = Segment(name: "rack-b", recoveryMethod: .auto, enabled: false)
            s.identity.uuid = "6f1d2c3b-4a59-4e6f-8a7b-9c0d1e2f3a4b"
            s.description = "second rack"
            s.serviceType = "COMPUTE"
            return s
        }()),
        .segmentRemoved(uuid: "6f1d2c3b-4a59-4e6f-8a7b-9c0d1e2f3a4b"),
        .hostSaved(
            HostRegistration(
                uuid: "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d", name: "c2", segment: "rack-a", reserved: true, maintenance: false,
                type: "COMPUTE", controlAttributes: "SSH")),
        .hostRemoved(uuid: "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"),
        .notificationReceived(
            NotificationRecord(
                identity: RecordIdentity(uuid: "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"), type: .computeHost, hostname: "c1",
                generatedTime: "2026-11-26T13:27:49.916130", generatedAt: 1_795_786_069.91613,
                payload: [.init("event", "STOPPED"), .init("host_status", "NORMAL"), .init("cluster_status", "OFFLINE")])),
    ]

    static func state() throws -> ClusterState {
        var s = ClusterState(configuration: config)
        try s.apply(.leaderChanged(holder: TermHolder(node: 1, incarnation: 42)), at: 100)
        try s.apply(.processFailed(host: "c2", process: "dummy"), at: 100.5)
        try s.apply(.nodeLost(host: "c1"), at: 101)
        let a = try #require(try s.start(.fence(host: "c1"), at: 101.5))
        try s.apply(.actionFinished(key: "fence:c1", attempt: a, report: report), at: 102.25)
        try s.start(.forceDown(host: "c1"), at: 102.25)
        return s
    }

    static func messages() throws -> [(String, WireMessage)] {
        let members = [MemberID(node: 1, pid: 100), MemberID(node: 2, pid: 200)]
        var out = events.map { e in ("event \(e.kind)", WireMessage(.event(e, at: 1_700_000_000.25, request: 7))) }
        out.append(("event without request", WireMessage(.event(.clock, at: 5, request: nil))))
        out.append(
            ("events",
             WireMessage(.events([
                .init(.maintenance(host: "c1", on: true), at: 1_700_000_000.5, request: 8),
                .init(.reserved(host: "c2", on: false), at: 1_700_000_000.75, request: 9),
                .init(.clock, at: 1_700_000_001, request: nil),
             ]))))
        out.append(
            ("offer",
             WireMessage(.offer(.init(round: members, quorate: true, configVersion: 3, progress: 12, epoch: 15, digest: 4_000_000_000, clock: 1_700_000_000.5)))))
        out.append(("round_abort", WireMessage(.roundAbort(round: members, winner: nil))))
        out.append(("round_abort winner", WireMessage(.roundAbort(round: members, winner: members[1]))))
        out.append(("sync_request", WireMessage(.syncRequest(round: members))))
        out.append(("history_request", WireMessage(.historyRequest(first: 10, last: 2009))))
        out.append(
            ("history_part",
             WireMessage(.historyPart(.init(to: members[1], first: 10, last: 2009, firstSeq: 12, entries: [
                HistoryEntry(epoch: 12, at: 99, origin: 1, event: Event.nodeLost(host: "c1").json, result: .applied, applied: Applied(incident: 1)),
             ])))))
        let history = [
            HistoryEntry(epoch: 1, at: 100, origin: 1, event: HistoryEntry.summary(.configure(config)), result: .applied),
            HistoryEntry(epoch: 1, at: 100, origin: 2, event: Event.maintenance(host: "x", on: true).json, result: .rejected("unknown host 'x'")),
            HistoryEntry(epoch: 3, at: 103, origin: 1, event: Event.clock.json, result: .stale("stale result")),
            HistoryEntry(
                epoch: 4, at: 104, origin: 2, event: Event.nodeLost(host: "c1").json, result: .applied,
                applied: Applied(incident: 3, incidents: [try state().incidents.first!])),
        ]
        out.append(
            ("snapshot", WireMessage(.snapshot(.init(round: members, leader: members[0], state: try state(), history: history, prunedHistory: 9)))))
        return out
    }

    @Test func test_everyEventKind_hasAFixture() {
        #expect(Set(Self.events.map(\.kind)) == Set(Event.allKinds))
    }

    @Test func test_encoding_matchesTheGoldenFilesOfThisVersion() throws {
        let file = Self.folder.appendingPathComponent("messages.jsonl")
        let lines = try Self.messages().map { name, m in JSONWriter.write(.object([("name", .string(name)), ("message", m.json)]), timeKeys: []) }
        let text = lines.joined(separator: "\n") + "\n"
        if ProcessInfo.processInfo.environment["LIFEBOAT_UPDATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true)
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
        guard let golden = try? String(contentsOf: file, encoding: .utf8) else {
            Issue.record("no golden file for protocol version \(WireMessage.currentVersion) at \(file.path): generate it (LIFEBOAT_UPDATE_GOLDEN=1)")
            return
        }
        let want = golden.split(separator: "\n").map(String.init)
        #expect(want.count == lines.count, "the set of fixtures changed: regenerate the golden file")
        for (got, expected) in zip(lines, want) where got != expected {
            Issue.record(
                "wire schema changed without a version bump (protocol \(WireMessage.currentVersion)):\n expected \(expected.prefix(300))\n got      \(got.prefix(300))\nBump WireMessage.currentVersion and regenerate the golden files.")
        }
    }

    /// What was written once reads back to the same message: old golden lines decode.
    @Test func test_goldenMessages_decodeToTheFixtures() throws {
        let file = Self.folder.appendingPathComponent("messages.jsonl")
        let golden = try String(contentsOf: file, encoding: .utf8).split(separator: "\n")
        let fixtures = try Self.messages()
        for (line, (name, message)) in zip(golden, fixtures) {
            let json = try JSONParser.parse(String(line))
            let bytes = Array(JSONWriter.write(json["message"]!, timeKeys: []).utf8)
            #expect(try WireMessage.decode(bytes) == message, "\(name)")
        }
    }

    @Test func test_largeMessage_travelsAsFragments_andReassemblesExactly() throws {
        var config = Self.config
        config.instances = (0..<4000).map { Instance(id: "vm-\($0)", host: "c1", ha: true, flavor: Capacity(vcpus: 0, ramMB: 0, diskGB: 0)) }
        let m = WireMessage(.event(.configure(config), at: 1, request: 3))
        let frames = m.frames(id: 11)
        #expect(frames.count > 1 && frames.allSatisfy { $0.count <= WireMessage.maxFrameBytes })
        var bytes: [UInt8] = []
        for (n, f) in frames.enumerated() {
            guard case .fragment(let frag) = try WireMessage.decodeFrame(f) else { Issue.record("not a fragment"); return }
            #expect(frag.index == n && frag.count == frames.count && frag.id == 11)
            bytes += frag.data
        }
        #expect(CRC32C.checksum(bytes) == CRC32C.checksum(m.encoded()))
        #expect(try WireMessage.decode(bytes) == m)
    }

    @Test func test_crc32c_knownVector() {
        // RFC 3720 B.4: 32 bytes of zeros.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }
}
