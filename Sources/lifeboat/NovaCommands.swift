import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatOpenStack

/// `lifeboat nova …`: talks to Keystone and Nova directly, in-process, with the cloud's
/// credentials (clouds.yaml or OS_* variables), as lifeboatd does. For checking credentials
/// and reachability, and for looking at what the executors work on.
struct NovaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nova", abstract: "Check and inspect the OpenStack cloud as lifeboatd sees it.",
        subcommands: [Check.self, Services.self, Servers.self, Hypervisors.self, Evacuate.self, ForceDown.self])

    struct Evacuate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Evacuate a fenced host's HA servers and track each until it is ACTIVE elsewhere (outside the cluster).",
            discussion: """
                For hosts fenced by other means (Pacemaker, by hand): the host's nova-compute must be down or
                forced down in Nova, else nothing is done. Lifeboat's own cluster evacuates by itself; this is
                what Agents/nova-evacuate runs. Exit 0 when every server settled on another host.
                """)
        @OptionGroup var cloud: CloudOptions
        @Argument(help: "The fenced host.") var host: String
        @Option(help: "Target host (default: Nova's scheduler chooses).") var target: String?
        @Flag(help: "Every server of the host, not only HA-tagged ones.") var all = false
        @Option(help: "Evacuations at once.") var parallel = 10
        @Option(help: "Seconds for each server to settle.") var timeout = 300.0
        @Option(help: "text or json.") var format = "text"
        func run() async throws {
            guard format == "text" || format == "json" else { throw fail("--format: text or json", code: 2) }
            guard parallel >= 1, timeout > 0 else { throw fail("--parallel must be at least 1 and --timeout above 0", code: 2) }
            var e = HostEvacuation(nova: try cloud.client(), host: host)
            e.all = all
            e.target = target
            e.parallel = parallel
            e.timeout = timeout
            let text = format == "text"
            let outcomes = try await NovaCommand.run { () throws(OpenStackError) in
                try await e.run { o in
                    if text {
                        print(o.ok ? "\(o.id)  ACTIVE on \(o.target ?? "?") in \(String(format: "%.1f", o.seconds)) s" : "\(o.id)  FAILED: \(o.error ?? o.status)")
                    }
                }
            }
            let failed = outcomes.filter { !$0.ok }.count
            if text {
                print("\(outcomes.count - failed) of \(outcomes.count) servers of \(host) settled on other hosts")
            } else {
                let rows: [JSONValue] = outcomes.map { o in
                    .object([
                        ("id", .string(o.id)), ("name", .string(o.name)), ("ok", .bool(o.ok)), ("target", .optional(o.target)),
                        ("status", .string(o.status)), ("error", .optional(o.error)), ("request_id", .optional(o.requestID)),
                        ("seconds", .number(o.seconds)),
                    ])
                }
                print(JSONWriter.write(.object([("host", .string(host)), ("servers", .array(rows)), ("failed", .int(failed))])))
            }
            if failed > 0 { throw ExitCode(1) }
        }
    }

    struct ForceDown: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "force-down",
            abstract: "Mark a host's nova-compute forced down (after fencing it by other means), or lift it with --undo.")
        @OptionGroup var cloud: CloudOptions
        @Argument(help: "The host.") var host: String
        @Flag(help: "Lift the forced-down state (the host is repaired and running).") var undo = false
        func run() async throws {
            let nova = try cloud.client()
            let svc = try await NovaCommand.run { () throws(OpenStackError) in
                let s = try await nova.computeService(host: host)
                return try await nova.setForcedDown(s.id, !undo).0
            }
            print("\(svc.host)  \(svc.state)  \(svc.status)\(svc.forced_down == true ? "  forced_down" : "")")
        }
    }

    struct CloudOptions: ParsableArguments {
        @Option(help: "The cloud in clouds.yaml (default: OS_CLOUD, else OS_* variables).") var cloud: String?
        @Option(help: "A clouds.yaml to read instead of the standard search path.") var cloudsYaml: String?

        func client() throws -> NovaClient {
            let creds: CloudCredentials
            do { creds = try CloudCredentials.load(cloud: cloud, file: cloudsYaml) } catch { throw fail("\(error)", code: 2) }
            return NovaClient(keystone: KeystoneSession(creds))
        }
    }

    static func run<T>(_ body: () async throws(OpenStackError) -> T) async throws -> T {
        do { return try await body() } catch { throw fail(error.description, code: 1) }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Authenticate, find Nova, negotiate a microversion, list the computes.")
        @OptionGroup var cloud: CloudOptions
        func run() async throws {
            let nova = try cloud.client()
            let start = ContinuousClock.now
            let services = try await NovaCommand.run { () throws(OpenStackError) in try await nova.computeServices() }
            let v = await nova.microversion ?? "?"
            print("ok: \(await nova.keystone.credentials), compute microversion \(v), \(services.count) nova-compute services, \((ContinuousClock.now - start).wholeMilliseconds) ms")
        }
    }

    struct Services: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "nova-compute services: state, status, forced down.")
        @OptionGroup var cloud: CloudOptions
        @Option(help: "Only this host's.") var host: String?
        func run() async throws {
            let nova = try cloud.client()
            for s in try await NovaCommand.run({ () throws(OpenStackError) in try await nova.computeServices() }) where host == nil || s.host == host {
                print("\(s.host)  \(s.state)  \(s.status)\(s.forced_down == true ? "  forced_down" : "")\(s.disabled_reason.map { "  (\($0))" } ?? "")")
            }
        }
    }

    struct Servers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Servers of every project: host, status, HA tag, flavor.")
        @OptionGroup var cloud: CloudOptions
        @Option(help: "Only this host's.") var host: String?
        func run() async throws {
            let nova = try cloud.client()
            for s in try await NovaCommand.run({ () throws(OpenStackError) in try await nova.servers(host: host) }) {
                let f = s.flavor.map { "\($0.vcpus) vCPU \($0.ram) MB \($0.disk) GB" } ?? "-"
                print("\(s.id)  \(s.host ?? "-")  \(s.status)  \(s.metadata["HA_Enabled"] ?? "-")  \(f)  \(s.name)")
            }
        }
    }

    struct Hypervisors: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Hypervisors with capacity and usage.")
        @OptionGroup var cloud: CloudOptions
        func run() async throws {
            let nova = try cloud.client()
            for h in try await NovaCommand.run({ () throws(OpenStackError) in try await nova.hypervisors() }) {
                print("\(h.hypervisor_hostname)  \(h.state)  vcpus \(h.vcpus_used ?? 0)/\(h.vcpus ?? 0)  ram \(h.memory_mb_used ?? 0)/\(h.memory_mb ?? 0) MB  disk \(h.local_gb_used ?? 0)/\(h.local_gb ?? 0) GB")
            }
        }
    }
}
