import ArgumentParser
import Foundation
import LifeboatCore

/// `lifeboat resource list|show|restart|cleanup`: the OCF resources kept running on the
/// hosts, like `crm_resource` (`--list`, `--why`, `--restart`, `--cleanup`).
struct ResourceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resource", abstract: "The resources (OCF agents) kept running on the hosts.",
        subcommands: [List.self, Show.self, Restart.self, Cleanup.self])

    enum Format: String, ExpressibleByArgument { case text, json }

    static func fetch(_ socket: String, name: String?) throws -> JSONValue {
        var req: [(String, JSONValue)] = [("cmd", .string("resources"))]
        if let name { req.append(("name", .string(name))) }
        return try ControlClient.call(.object(req), socketPath: socket)
    }

    /// `resource_restart` or `resource_cleanup` of one resource on one host.
    static func submit(_ kind: String, _ name: String, _ host: String, socket: String) throws {
        try submitEvent([("kind", .string(kind)), ("host", .string(host)), ("process", .string(name))], socket: socket)
    }

    static func str(_ v: JSONValue?) -> String {
        switch v ?? .null {
        case .string(let s): s
        case .null: "-"
        case .number(let n): JSONWriter.write(.number(n))
        default: JSONWriter.write(v!)
        }
    }

    static func table(_ response: JSONValue) -> String {
        var rows = [["RESOURCE", "HOST", "AGENT", "STATE", "FAILURES", "LIMIT", "ON_FAIL", "LAST MONITOR (this host)"]]
        if case .array(let list) = response["resources"] ?? .null {
            for r in list {
                rows.append([
                    str(r["name"]), str(r["host"]), str(r["agent"]), str(r["state"]), str(r["failures"]), str(r["restart_limit"]),
                    str(r["on_fail"]), r["last_monitor"].map { str($0["summary"]) } ?? "",
                ])
            }
        }
        guard rows.count > 1 else { return "No resources configured (cluster.resources in lifeboat config apply FILE).\n" }
        var out = Status.table(rows)
        if case .array(let list) = response["resources"] ?? .null {
            for r in list { if case .string(let why) = r["blocked"] ?? .null { out += "\(str(r["name"])) on \(str(r["host"])) BLOCKED: \(why)\n" } }
        }
        return out
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every resource on every host, with its state and fail count.")
        @OptionGroup var socket: SocketOption
        @Option(help: "text or json.") var format: Format = .text
        func run() throws {
            let r = try ResourceCommand.fetch(socket.path, name: nil)
            print(format == .json ? JSONWriter.write(r) : ResourceCommand.table(r), terminator: format == .json ? "\n" : "")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One resource: its configuration, state per host, recent restarts.")
        @OptionGroup var socket: SocketOption
        @Option(help: "text or json.") var format: Format = .text
        @Argument(help: "The resource.") var name: String
        func run() throws {
            let r = try ResourceCommand.fetch(socket.path, name: name)
            if format == .json { print(JSONWriter.write(r)); return }
            if case .array(let list) = r["resources"] ?? .null, let first = list.first, let spec = first["spec"] {
                print("\(name): \(JSONWriter.write(spec))")
            }
            print(ResourceCommand.table(r), terminator: "")
            if case .array(let restarts) = r["restarts"] ?? .null, !restarts.isEmpty {
                print("Restarts:")
                for c in restarts {
                    let report = c["report"]
                    print("  \(ResourceCommand.str(c["record"]?["action"]?["host"])): \(ResourceCommand.str(report?["outcome"])): \(ResourceCommand.str(report?["message"]))")
                }
            }
        }
    }

    struct Restart: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Restart a resource on a host (its agent's stop, then start, run there); not counted as a failure.")
        @OptionGroup var socket: SocketOption
        @Argument(help: "The resource.") var name: String
        @Argument(help: "The host.") var host: String
        func run() throws {
            try ResourceCommand.submit("resource_restart", name, host, socket: socket.path)
        }
    }

    struct Cleanup: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Forget a resource's failures on a host and lift its block (like crm_resource --cleanup).")
        @OptionGroup var socket: SocketOption
        @Argument(help: "The resource.") var name: String
        @Argument(help: "The host.") var host: String
        func run() throws {
            try ResourceCommand.submit("resource_cleanup", name, host, socket: socket.path)
        }
    }
}
