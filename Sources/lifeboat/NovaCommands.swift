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
        subcommands: [Check.self, Services.self, Servers.self, Hypervisors.self])

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
