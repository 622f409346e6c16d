import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatHistory
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
        abstract: "Put a host into maintenance (alerts ignored, no recovery, never a target, out of the reserve) or take it out; drain it.",
        discussion: """
              lifeboat maintenance compute-3 on --drain --wait   live-migrate its instances to other hosts of its segment,
                                                                 show the progress, and say when it is empty and safe to work on
              lifeboat maintenance compute-3 drain | stop-drain  drain a host already in maintenance, or stop starting moves
              lifeboat maintenance compute-3 off                 back in service (a drain in progress stops)
            Exit status with --wait: 0 when the host is empty, 1 when instances stay (each with the reason).
            """)
    enum State: String, ExpressibleByArgument { case on, off, drain, `stop-drain` }
    @OptionGroup var socket: SocketOption
    @Argument(help: "The host.") var host: String
    @Argument(help: "on, off, drain, stop-drain.") var state: State
    @Flag(help: "With on: also drain it (live-migrate its instances away).") var drain = false
    @Flag(help: "Wait for the drain to end, showing its progress.") var wait = false
    @Option(help: "Seconds to wait at most with --wait.") var timeout: Double = 3600

    func run() throws {
        if drain && state != .on { throw fail("--drain goes with 'on' (or use: lifeboat maintenance \(host) drain)", code: 2) }
        if wait && !(drain || state == .drain) { throw fail("--wait waits for a drain: give --drain, or 'drain'", code: 2) }
        switch state {
        case .on, .off:
            try submitEvent([("kind", .string("maintenance")), ("host", .string(host)), ("on", .bool(state == .on))], socket: socket.path)
            if drain { try submitEvent([("kind", .string("drain")), ("host", .string(host)), ("on", .bool(true))], socket: socket.path) }
        case .drain:
            try submitEvent([("kind", .string("drain")), ("host", .string(host)), ("on", .bool(true))], socket: socket.path)
        case .`stop-drain`:
            try submitEvent([("kind", .string("drain")), ("host", .string(host)), ("on", .bool(false))], socket: socket.path)
        }
        if wait { try follow() }
    }

    /// Prints each change of the drain's progress until it ends.
    func follow() throws {
        let deadline = Date().addingTimeInterval(timeout)
        var last = ""
        while Date() < deadline {
            let status = try ControlClient.call(.object([("cmd", .string("status"))]), socketPath: socket.path)["status"] ?? .null
            guard case .array(let drains) = status["drains"] ?? .null, let d = drains.first(where: { $0["host"] == .string(host) }) else {
                throw fail("no drain of \(host) in the status (stopped, or \(host) left maintenance)", code: 1)
            }
            let line = "\(BMC.text(d["moved"])) of \(BMC.text(d["total"])) moved, \(BMC.text(d["in_flight"])) moving, \(BMC.text(d["waiting"])) waiting"
            if line != last { print("\(host): \(line)"); last = line }
            if d["finished_at"] != .null && d["finished_at"] != nil {
                if d["empty"] == .bool(true) {
                    print("\(host) is empty and safe to work on")
                    return
                }
                if case .object(let blocked) = d["blocked"] ?? .null {
                    for (id, why) in blocked { print("  \(id) stays on \(host): \(BMC.text(why))") }
                }
                throw ExitCode(1)
            }
            Thread.sleep(forTimeInterval: 1)
        }
        throw fail("the drain of \(host) did not end within \(Int(timeout)) s", code: 1)
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
    static let configuration = CommandConfiguration(
        commandName: "ha", abstract: "Which instances are protected: an instance's own tag, HA rules, and why.",
        discussion: """
            An instance is protected (restarted, evacuated) by, in order: its own tag (HA_Enabled=True or an
            evacuable flavor or image protects it, HA_Enabled=False opts it out), the matching HA rule of
            highest priority (by project, aggregate, availability zone, host or segment), policy evacuate_all.
              lifeboat ha vm-1 on|off|default       set its tag in Nova (default: remove it, rules decide)
              lifeboat ha policy add gold --project 3f2a… --priority 10
              lifeboat ha policy add no-batch --aggregate batch --exclude --priority 20
              lifeboat ha explain vm-1
            """,
        subcommands: [Tag.self, Policy.self, Explain.self], defaultSubcommand: Tag.self)

    enum TagState: String, ExpressibleByArgument { case on, off, `default` }

    struct Tag: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "tag", abstract: "Set an instance's own tag (written as HA_Enabled in Nova).")
        @OptionGroup var socket: SocketOption
        @Argument(help: "The instance.") var instance: String
        @Argument(help: "on (HA_Enabled=True), off (HA_Enabled=False: opted out whatever the rules say), default (no tag: rules decide).")
        var state: TagState
        func run() throws {
            let tag = switch state {
                case .on: "on"
                case .off: "off"
                case .default: "none"
                }
            try submitEvent([("kind", .string("ha")), ("instance", .string(instance)), ("tag", .string(tag))], socket: socket.path)
        }
    }

    struct Policy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "HA rules: protect (or exclude) instances by project, aggregate, availability zone, host or segment.",
            subcommands: [List.self, Add.self, Remove.self], defaultSubcommand: List.self)

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "The rules in the order they are tried, with the instances each decides.")
            @OptionGroup var socket: SocketOption
            @Option(help: "text or json.") var format: History.Format = .text
            func run() throws {
                let r = try ControlClient.call(.object([("cmd", .string("ha")), ("rules", .bool(true))]), socketPath: socket.path)
                if format == .json { print(JSONWriter.write(.object([("rules", r["rules"] ?? .array([]))]), timeKeys: [])); return }
                guard case .array(let rules) = r["rules"] ?? .null, !rules.isEmpty else {
                    print("no HA rule: instances are protected by their own tag\(r["evacuate_all"] == .bool(true) ? ", and every other one by evacuate_all" : "")")
                    return
                }
                let rows = rules.map { rule in
                    [BMC.text(rule["name"]), BMC.text(rule["priority"]), rule["protect"] == .bool(false) ? "exclude" : "protect", BMC.text(rule["criteria"]), BMC.text(rule["instances"])]
                }
                print(TextTable(["rule", "priority", "does", "matches", "instances it decides"], rows).render().trimmingCharacters(in: .newlines))
            }
        }

        struct Add: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Add a rule, or replace the rule of that name.")
            @OptionGroup var socket: SocketOption
            @Argument(help: "The rule's name.") var name: String
            @Option(help: "Instances of this project (id).") var project: String?
            @Option(help: "Instances on hosts of this host aggregate.") var aggregate: String?
            @Option(help: "Instances on hosts of this availability zone.") var availabilityZone: String?
            @Option(help: "Instances on this host.") var host: String?
            @Option(help: "Instances in this failover segment.") var segment: String?
            @Option(help: "Among matching rules, the highest priority decides.") var priority = 0
            @Flag(help: "Exclude what matches instead of protecting it.") var exclude = false
            func run() throws {
                var rule: [(String, JSONValue)] = [("name", .string(name))]
                for (key, v) in [("project", project), ("aggregate", aggregate), ("availability_zone", availabilityZone), ("host", host), ("segment", segment)] {
                    if let v { rule.append((key, .string(v))) }
                }
                guard rule.count > 1 else { throw fail("a rule needs at least one of --project, --aggregate, --availability-zone, --host, --segment", code: 2) }
                rule += [("protect", .bool(!exclude)), ("priority", .int(priority))]
                try submitEvent([("kind", .string("ha_rule_saved")), ("rule", .object(rule))], socket: socket.path)
            }
        }

        struct Remove: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Remove a rule.")
            @OptionGroup var socket: SocketOption
            @Argument(help: "The rule's name.") var name: String
            func run() throws {
                try submitEvent([("kind", .string("ha_rule_removed")), ("name", .string(name))], socket: socket.path)
            }
        }
    }

    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Whether an instance is protected, and by what.")
        @OptionGroup var socket: SocketOption
        @Argument(help: "The instance.") var instance: String
        @Option(help: "text or json.") var format: History.Format = .text
        func run() throws {
            let r = try ControlClient.call(.object([("cmd", .string("ha")), ("explain", .string(instance))]), socketPath: socket.path)
            if format == .json { print(JSONWriter.write(r["protection"] ?? .null, timeKeys: [])); return }
            let p = r["protection"] ?? .null
            print("\(instance) on \(BMC.text(p["host"])): \(p["protected"] == .bool(true) ? "PROTECTED" : "not protected") — \(BMC.text(p["reason"]))")
        }
    }
}

struct SegmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment", abstract: "Enable or disable automatic recovery in a failover segment, or lift its storm halt.")
    enum Verb: String, ExpressibleByArgument { case enable, disable, reset, maintenance }
    @OptionGroup var socket: SocketOption
    @Argument(help: "enable, disable, reset (lift the storm guard's halt), or maintenance (with on|off: every host of it).") var verb: Verb
    @Argument(help: "The segment.") var segment: String
    @Argument(help: "With maintenance: on or off.") var state: OnOff?
    func run() throws {
        if (verb == .maintenance) != (state != nil) { throw fail("on|off goes with maintenance only: lifeboat segment maintenance \(segment) on", code: 2) }
        switch verb {
        case .maintenance:
            try submitEvent(
                [("kind", .string("segment_maintenance")), ("segment", .string(segment)), ("on", .bool(state == .on))], socket: socket.path)
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
        abstract: "Fence a host now (the leader powers it off through its fence levels), or confirm by hand that it is off.",
        discussion: """
            lifeboat fence HOST          asks the leader to fence HOST (like stonith_admin --fence): it is
                                         powered off and its HA instances are evacuated. Asks first unless --yes.
            lifeboat fence --confirm HOST  your word that HOST is off (like stonith_admin --confirm): unblocks
                                         its evacuation. A wrong confirmation risks running instances twice.
            """)
    @OptionGroup var socket: SocketOption
    @Flag(help: "Confirm that HOST is off (it is not fenced by Lifeboat).") var confirm = false
    @Flag(help: "Do not ask before fencing.") var yes = false
    @Argument(help: "The host.") var host: String
    func run() throws {
        if confirm {
            try submitEvent([("kind", .string("fence_confirmed_by_operator")), ("host", .string(host))], socket: socket.path)
            return
        }
        if !yes {
            guard isatty(0) != 0 else { throw fail("fencing \(host) powers it off: add --yes to confirm", code: 2) }
            FileHandle.standardError.write(Data("Power off \(host) and evacuate its HA instances? Type the host name to confirm: ".utf8))
            guard readLine()?.trimmingCharacters(in: .whitespaces) == host else { throw fail("not confirmed: nothing done", code: 2) }
        }
        try submitEvent([("kind", .string("fence_requested")), ("host", .string(host))], socket: socket.path)
    }
}

struct BMC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bmc",
        abstract: "Ask a host's fence devices for its power state from this node (status: the first that answers; test: every level).")
    enum Verb: String, ExpressibleByArgument { case status, test }
    @OptionGroup var socket: SocketOption
    @Argument(help: "status or test.") var verb: Verb
    @Argument(help: "The host.") var host: String
    @Flag(help: "Print the raw JSON.") var json = false
    func run() throws {
        let r = try ControlClient.request(
            .object([("cmd", .string("bmc")), ("op", .string(verb.rawValue)), ("host", .string(host))]), socketPath: socket.path)
        if json {
            print(JSONWriter.write(r, timeKeys: []))
        } else if case .array(let levels) = r["levels"] ?? .null {
            for l in levels {
                let ok = l["ok"] == .bool(true)
                var line = "level \(JSONWriter.write(l["level"] ?? .null)) \(Self.text(l["device"])): "
                line += ok ? "power \(Self.text(l["power"]))" : "FAILED: \(Self.text(l["error"]))"
                print(line + " (\(JSONWriter.write(l["duration_ms"] ?? .null)) ms)")
            }
        }
        guard r["ok"] == .bool(true) else { throw fail(Self.text(r["error"]), code: 1) }
        if !json { print("\(host): power \(Self.text(r["power"]))") }
    }

    static func text(_ v: JSONValue?) -> String {
        if case .string(let s) = v ?? .null { return s }
        return JSONWriter.write(v ?? .null, timeKeys: [])
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

extension History {
    /// A finished action as operators read it: kind, subject, start and end in UTC, outcome,
    /// the fence level that worked, every level tried, and the console tail.
    static func record(_ c: JSONValue) -> JSONValue {
        let rec = c["record"] ?? .null
        let action = rec["action"] ?? .null
        let report = c["report"] ?? .null
        func utc(_ v: JSONValue?) -> JSONValue {
            guard case .number(let t) = v ?? .null else { return .null }
            let f = ISO8601DateFormatter()
            f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return .string(f.string(from: Date(timeIntervalSince1970: t)))
        }
        var f: [(String, JSONValue)] = [("kind", action["kind"] ?? .null)]
        if let h = action["host"] { f.append(("host", h)) }
        if case .string(let kind) = action["kind"] ?? .null, kind == "evacuate", let from = action["from"] { f.append(("host", from)) }
        if let i = action["instance"] { f.append(("instance", i)) }
        if let p = action["process"] { f.append(("process", p)) }
        var subject = action["instance"] ?? action["host"] ?? .null
        if case .string(let p) = action["process"] ?? .null, case .string(let h) = action["host"] ?? .null { subject = .string("\(p) on \(h)") }
        f += [
            ("subject", subject), ("attempt", rec["attempt"] ?? .null), ("leader", rec["leader"] ?? .null),
            ("started", utc(rec["started_at"])), ("finished", utc(c["finished_at"])), ("outcome", report["outcome"] ?? .null),
            ("duration_ms", report["duration_ms"] ?? .null), ("message", report["message"] ?? .null),
        ]
        if case .object(let attrs) = report["attributes"] ?? .null {
            for (k, v) in attrs {
                if k == "level", case .string(let n) = v, let x = Int(n) { f.append(("level", .int(x))) } else { f.append((k, v)) }
            }
        }
        if let steps = report["steps"] { f.append(("levels", steps)) }
        if let console = report["console"] {
            if let text = console["captured"] { f.append(("console", text)) }
            if let why = console["unavailable"] { f += [("console", .null), ("console_unavailable", why)] }
        }
        return .object(f)
    }
}
