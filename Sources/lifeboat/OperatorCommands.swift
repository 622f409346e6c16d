import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatReplication

/// Sends one operator event to lifeboatd and reports the epoch it was applied at.
func submitEvent(_ fields: [(String, JSONValue)], socket: String) throws {
    let response = try ControlClient.call(
        .object([("cmd", .string("event")), ("event", .object(fields))]), socketPath: socket)
    print("applied at epoch \(JSONWriter.write(response["epoch"] ?? .null))")
}

enum OnOff: String, ExpressibleByArgument { case on, off }

struct Maintenance: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put a host into maintenance (alerts ignored, no recovery, never a target) or take it out.")
    @OptionGroup var socket: SocketOption
    @Argument(help: "The host.") var host: String
    @Argument(help: "on or off.") var state: OnOff
    func run() throws {
        try submitEvent([("kind", .string("maintenance")), ("host", .string(host)), ("on", .bool(state == .on))], socket: socket.path)
    }
}

struct Reserved: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Mark a host as reserved capacity, or not.")
    @OptionGroup var socket: SocketOption
    @Argument(help: "The host.") var host: String
    @Argument(help: "on or off.") var state: OnOff
    func run() throws {
        try submitEvent([("kind", .string("reserved")), ("host", .string(host)), ("on", .bool(state == .on))], socket: socket.path)
    }
}

struct HA: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ha", abstract: "Set or clear an instance's HA tag.")
    @OptionGroup var socket: SocketOption
    @Argument(help: "The instance.") var instance: String
    @Argument(help: "on or off.") var state: OnOff
    func run() throws {
        try submitEvent([("kind", .string("ha")), ("instance", .string(instance)), ("on", .bool(state == .on))], socket: socket.path)
    }
}

struct SegmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment", abstract: "Enable or disable automatic recovery in a failover segment, or lift its storm halt.")
    enum Verb: String, ExpressibleByArgument { case enable, disable, reset }
    @OptionGroup var socket: SocketOption
    @Argument(help: "enable, disable, or reset (lift the storm guard's halt).") var verb: Verb
    @Argument(help: "The segment.") var segment: String
    func run() throws {
        switch verb {
        case .enable, .disable:
            try submitEvent(
                [("kind", .string("segment_enabled")), ("segment", .string(segment)), ("on", .bool(verb == .enable))],
                socket: socket.path)
        case .reset:
            try submitEvent([("kind", .string("storm_reset")), ("segment", .string(segment))], socket: socket.path)
        }
    }
}

struct Fence: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Confirm by hand that a host is powered off (like stonith_admin --confirm): unblocks its evacuation.")
    @OptionGroup var socket: SocketOption
    @Flag(help: "Confirm that HOST is off. Wrong confirmations risk running instances twice.") var confirm = false
    @Argument(help: "The host.") var host: String
    func validate() throws {
        guard confirm else { throw ValidationError("only --confirm is supported; fencing itself is the leader's decision") }
    }
    func run() throws {
        try submitEvent([("kind", .string("fence_confirmed_by_operator")), ("host", .string(host))], socket: socket.path)
    }
}

struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show or replace the cluster configuration (segments, hosts, instances, policy).",
        subcommands: [Show.self, Apply.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the configuration in the scenario `cluster` format.")
        @OptionGroup var socket: SocketOption
        func run() throws {
            let r = try ControlClient.call(.object([("cmd", .string("config"))]), socketPath: socket.path)
            print(JSONWriter.write(.object([("version", r["version"] ?? .null), ("cluster", r["cluster"] ?? .null)]), timeKeys: []))
        }
    }

    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace the configuration with FILE (a JSON `cluster` object, or a scenario file's `cluster`).")
        @OptionGroup var socket: SocketOption
        @Argument(help: "The file ('-' for standard input).") var file: String
        func run() throws {
            let text: String
            do { text = try readFile(file) } catch { throw fail("\(error)", code: 2) }
            var json: JSONValue
            do { json = try JSONParser.parse(text) } catch { throw fail("\(file): invalid JSON at \(error)", code: 2) }
            if let inner = json["cluster"] { json = inner }
            let configuration: ClusterConfiguration
            do { configuration = try ClusterConfiguration.parse(json) } catch { throw fail("\(file): \(error)", code: 2) }
            // The whole configuration travels as one replicated message: refuse what cannot.
            let size = JSONWriter.write(configuration.json, timeKeys: []).utf8.count
            guard size <= WireMessage.maxMessageBytes - 4096 else {
                throw fail(
                    "\(file): this configuration is \(size) bytes, over the \(WireMessage.maxMessageBytes)-byte limit of one replicated message",
                    code: 2)
            }
            let r = try ControlClient.call(.object([("cmd", .string("configure")), ("cluster", json)]), socketPath: socket.path)
            print("configuration version \(JSONWriter.write(r["config_version"] ?? .null)) applied at epoch \(JSONWriter.write(r["epoch"] ?? .null))")
        }
    }
}

struct History: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "What happened, when and where: applied events and notices.")
    @OptionGroup var socket: SocketOption
    @Option(help: "How many recent events.") var limit = 50
    @Flag(help: "Print the raw JSON.") var json = false
    func run() throws {
        let r = try ControlClient.call(.object([("cmd", .string("history")), ("limit", .number(Double(limit)))]), socketPath: socket.path)
        if json { print(JSONWriter.write(r, timeKeys: [])); return }
        if case .array(let entries) = r["history"] ?? .null {
            for e in entries {
                guard case .number(let at) = e["at"] ?? .null, let event = e["event"] else { continue }
                let ev = JSONWriter.write(event, timeKeys: [])
                let date = Date(timeIntervalSince1970: at)
                var line = "\(date) epoch \(JSONWriter.write(e["epoch"] ?? .null)) from node \(JSONWriter.write(e["origin"] ?? .null)): \(ev)"
                if case .string(let why) = e["rejected"] ?? .null { line += "  REJECTED: \(why)" }
                if case .string(let why) = e["stale"] ?? .null { line += "  STALE: \(why)" }
                print(line)
            }
        }
        if case .array(let notices) = r["notices"] ?? .null, !notices.isEmpty {
            print("\nNotices:")
            for n in notices {
                if case .string(let reason) = n["reason"] ?? .null { print("  \(reason)") }
            }
        }
    }
}
