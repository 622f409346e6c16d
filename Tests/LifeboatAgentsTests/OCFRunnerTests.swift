import Foundation
import LifeboatCore
import Testing

@testable import LifeboatAgents

/// The OCF runner against Debian's stock `ocf:heartbeat:Dummy` and against test agents that
/// hang, leave daemons behind, print junk and exit with every code of the standard.
@Suite struct OCFRunnerTests {
    /// A throwaway OCF root: the stock heartbeat agents and shell library linked in, and the
    /// test agents under `resource.d/test`.
    static func makeRoot() throws -> String {
        let root = NSTemporaryDirectory() + "ocf-\(UUID().uuidString)"
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/resource.d/test", withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: root + "/resource.d/heartbeat", withDestinationPath: "/usr/lib/ocf/resource.d/heartbeat")
        try fm.createSymbolicLink(atPath: root + "/lib", withDestinationPath: "/usr/lib/ocf/lib")
        let agents: [String: String] = [
            // Exits with the code given as a parameter.
            "exitcode": "#!/bin/sh\nexit ${OCF_RESKEY_code:-0}\n",
            // Hangs with a child in its group; writes both PIDs first.
            "hang": "#!/bin/sh\nsleep 1000 &\necho \"$$ $!\" > \"$OCF_RESKEY_pids\"\nwait\n",
            // `start` leaves a daemon behind and returns at once, holding no pipe.
            "daemon": "#!/bin/sh\ncase $1 in start) setsid sleep 30 </dev/null >/dev/null 2>&1 & echo $! > \"$OCF_RESKEY_pids\"; exit 0;; esac\nexit 7\n",
            // Prints junk where XML is expected, and an exit code outside the standard.
            "junk": "#!/bin/sh\necho '<<< not xml'\necho 'something broke' >&2\nexit 42\n",
            // Echoes its environment, to check what the runner passes.
            "env": "#!/bin/sh\nenv | grep -E '^(OCF_|HA_LOGTAG)' | sort\necho \"action=$1\"\n",
        ]
        for (name, text) in agents {
            let path = "\(root)/resource.d/test/\(name)"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o755)
        }
        return root
    }

    /// Running (a zombie waiting for a reaper that is not ours counts as gone).
    static func alive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        return !(stat.split(separator: ")").last?.trimmingCharacters(in: .whitespaces).hasPrefix("Z") ?? false)
    }

    static var hasDummy: Bool { FileManager.default.isExecutableFile(atPath: "/usr/lib/ocf/resource.d/heartbeat/Dummy") }

    @Test(.enabled(if: hasDummy, "Debian's resource-agents is not installed"))
    func test_stockDummy_startMonitorStop_andNotRunningWhenStopped() async throws {
        let root = try Self.makeRoot()
        let agent = try OCFAgent("ocf:heartbeat:Dummy", root: root)
        let meta = try await agent.metadata()
        #expect(meta.name == "Dummy")
        #expect(meta.parameters.contains { $0.name == "state" })
        #expect(meta.timeouts["start"] == 20)
        #expect(meta.actions.isSuperset(of: ["start", "stop", "monitor", "meta-data", "validate-all"]))
        let params = ["state": root + "/dummy.state"]
        #expect(meta.check(params) == nil)
        func run(_ op: String) async -> OCFAgent.Result { await agent.run(op, instance: "d1", params: params, timeout: 10) }
        let probe = await run("monitor")
        #expect(probe.code == .notRunning)
        #expect(probe.severity == .soft)  // as a recurring monitor's answer
        #expect(await run("start").code == .success)
        #expect(await run("monitor").code == .success)
        #expect(FileManager.default.fileExists(atPath: root + "/dummy.state"))
        #expect(await run("stop").code == .success)
        let after = await run("monitor")
        #expect(after.code == .notRunning)
        #expect(await run("validate-all").code == .success)
    }

    @Test func test_hangingAgent_timesOut_andItsWholeProcessGroupIsGone() async throws {
        let root = try Self.makeRoot()
        let agent = try OCFAgent("ocf:test:hang", root: root)
        let pids = root + "/pids"
        let r = await agent.run("monitor", instance: "h", params: ["pids": pids], timeout: 1)
        #expect(r.timedOut)
        #expect(r.severity == .soft)
        #expect(r.summary.contains("timed out"))
        #expect(r.durationMS >= 900 && r.durationMS < 20000)  // loose: the cores are shared
        let both = try String(contentsOfFile: pids, encoding: .utf8).split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(both.count == 2)
        try await Task.sleep(for: .milliseconds(100))
        for p in both { #expect(!Self.alive(p), "process \(p) of the agent's group survived the timeout") }
    }

    @Test func test_start_leavesItsDaemonRunning_andReturnsAtOnce() async throws {
        let root = try Self.makeRoot()
        let agent = try OCFAgent("ocf:test:daemon", root: root)
        let pids = root + "/pids"
        let r = await agent.run("start", instance: "d", params: ["pids": pids], timeout: 10)
        #expect(r.code == .success)
        #expect(r.durationMS < 8000)  // not the 10 s timeout: it did not wait for the daemon
        let pid = try #require(Int32(try String(contentsOfFile: pids, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(Self.alive(pid), "the started daemon was killed with the agent")
        kill(pid, SIGKILL)
    }

    @Test func test_everyExitCode_mapsToWhatPacemakerDoes() async throws {
        let root = try Self.makeRoot()
        let agent = try OCFAgent("ocf:test:exitcode", root: root)
        let expected: [Int32: (OCFExitCode, OCFExitCode.Severity)] = [
            0: (.success, .none), 1: (.genericError, .soft), 2: (.invalidArguments, .hard), 3: (.unimplemented, .hard),
            4: (.insufficientPermissions, .hard), 5: (.notInstalled, .hard), 6: (.notConfigured, .fatal), 7: (.notRunning, .soft),
            8: (.runningPromoted, .none), 9: (.failedPromoted, .soft),
        ]
        for (code, (name, severity)) in expected.sorted(by: { $0.key < $1.key }) {
            let r = await agent.run("monitor", instance: "x", params: ["code": "\(code)"], timeout: 5)
            #expect(r.exitCode == code)
            #expect(r.code == name)
            #expect(r.severity == severity, "exit \(code)")
        }
        // Not running is what a stop should leave: success.
        #expect(OCFExitCode.notRunning.severity(for: "stop") == .none)
    }

    @Test func test_junkOutput_andUnknownExitCode_areClearErrors() async throws {
        let root = try Self.makeRoot()
        let agent = try OCFAgent("ocf:test:junk", root: root)
        let r = await agent.run("monitor", instance: "j", params: [:], timeout: 5)
        #expect(r.exitCode == 42)
        #expect(r.code == nil)
        #expect(r.severity == .soft)
        #expect(r.summary.contains("not an OCF code") && r.summary.contains("something broke"))
        await #expect(throws: OCFError.self) { _ = try await agent.metadata() }
        #expect(throws: OCFError.self) { _ = try OCFMetadata.parse("<<< not xml") }
        #expect(throws: OCFError.self) { _ = try OCFMetadata.parse("<?xml version=\"1.0\"?><html/>") }
        // Found by Scripts/fuzz: these crashed Foundation's XMLParser (a processing
        // instruction without data). Now they are refused before it sees them.
        for text in ["<?xml ver unique=\"0\"><content type=\"strime=\"x\" version=\"2.0\">\n<version>1.0</version>",
                     "<?xml version=\"1.0\"?><?pi?><resource-agent name=\"x\"/>", "<resource-agent name=\"x\"><?x?></resource-agent>",
                     String(decoding: [0x3c, 0x3f, 0xd9, 0x8f, 0xbf, 0xbd, 0x78, 0x4f, 0x69, 0x6f, 0x3f, 0x3e, 0x73, 0x2f, 0x73, 0x68, 0x0] as [UInt8], as: UTF8.self)] {
            do {
                _ = try OCFMetadata.parse(text)
                Issue.record("accepted: \(text)")
            } catch { #expect(error.description.contains("XML declaration") || error.description.contains("processing instructions"), "\(error)") }
        }
        // A parameter without a name is an error (not skipped: its default would go to
        // the parameter before it). Found by the fuzzer too.
        for text in ["<resource-agent><parameters><parameter/></parameters></resource-agent>",
                     "<resource-agent><parameters><parameter name=\"a\"/><parameter name=\"\"><content default=\"x\"/></parameter></parameters></resource-agent>"] {
            #expect(throws: OCFError.badMetadata("a <parameter> without a name")) { _ = try OCFMetadata.parse(text) }
        }
        // The usual declaration (with spaces before it) still reads.
        let ok = try OCFMetadata.parse("\n <?xml version=\"1.0\"?>\n<!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\">\n<resource-agent name=\"x\"><parameters><parameter name=\"a\"/></parameters></resource-agent>")
        #expect(ok.name == "x" && ok.parameters.map(\.name) == ["a"])
    }

    @Test func test_environment_followsTheStandard() async throws {
        let root = try Self.makeRoot()
        let agent = try OCFAgent("ocf:test:env", root: root)
        let r = await agent.run("monitor", instance: "nc", params: ["config": "/etc/nova/nova.conf"], timeout: 5, interval: 10)
        for line in [
            "OCF_ROOT=\(root)", "OCF_RESOURCE_INSTANCE=nc", "OCF_RESOURCE_TYPE=env", "OCF_RESOURCE_PROVIDER=test",
            "OCF_RESKEY_config=/etc/nova/nova.conf", "OCF_RESKEY_CRM_meta_timeout=5000", "OCF_RESKEY_CRM_meta_interval=10000",
            "action=monitor",
        ] {
            #expect(r.stdout.contains(line + "\n"), "\(line) missing from:\n\(r.stdout)")
        }
    }

    @Test func test_badNames_missingAgents_andBadParameters_areClearErrors() throws {
        let root = try Self.makeRoot()
        #expect(throws: OCFError.badName("ocf:../../bin:sh")) { _ = try OCFAgent("ocf:../../bin:sh", root: root) }
        #expect(throws: OCFError.badName("lsb:nova")) { _ = try OCFAgent("lsb:nova", root: root) }
        do {
            _ = try OCFAgent("ocf:test:missing", root: root)
            Issue.record("a missing agent was found")
        } catch {
            #expect("\(error)".contains("resource.d/test/missing"))
        }
        let meta = OCFMetadata(
            name: "x", parameters: [.init(name: "config", required: true), .init(name: "binary", required: false)], timeouts: [:],
            actions: [])
        #expect(meta.check(["confg": "/x"])?.contains("unknown parameter confg") == true)
        #expect(meta.check(["binary": "/x"])?.contains("required parameter config") == true)
        #expect(meta.check(["config": "/x"]) == nil)
    }

    @Test func test_pacemakerTimeValues() {
        #expect(OCFMetadata.seconds("20") == 20)
        #expect(OCFMetadata.seconds("20s") == 20)
        #expect(OCFMetadata.seconds("500ms") == 0.5)
        #expect(OCFMetadata.seconds("2m") == 120)
        #expect(OCFMetadata.seconds("2min") == 120)
        #expect(OCFMetadata.seconds("1h") == 3600)
        #expect(OCFMetadata.seconds("soon") == nil)
    }
}
