import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatHistory

/// Filters shared by `history`, `incident list` and `report`: what, where, when.
struct HistoryFilterOptions: ParsableArguments {
    @Option(help: "Only what concerns this host (its failures, and evacuations to it).") var host: String?
    @Option(help: "Only what concerns this instance (its own steps and the failures that took it down).") var instance: String?
    @Option(help: "Only this failover segment.") var segment: String?
    @Option(
        name: .customLong("kind"),
        help: "Only these kinds (repeat or comma-separate): event kinds (node_lost, maintenance, …), action kinds (fence, evacuate, …), incident kinds (host_lost, vm_failed, …).")
    var kinds: [String] = []
    @Option(help: "From this time: 30d, 12h, 45m (ago), 2026-11-24, 2026-11-24T10:00 (UTC).") var since: String?
    @Option(help: "Until this time (same forms as --since).") var until: String?

    /// The request fields, with times resolved against `now`.
    func fields(now: Double) throws -> [(String, JSONValue)] {
        var f: [(String, JSONValue)] = []
        if let host { f.append(("host", .string(host))) }
        if let instance { f.append(("instance", .string(instance))) }
        if let segment { f.append(("segment", .string(segment))) }
        let kinds = kinds.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty }
        for k in kinds where !HistoryService.knownKinds.contains(k) {
            throw fail("--kind \(k): unknown kind (one of: \(HistoryService.knownKinds.sorted().joined(separator: ", ")))", code: 2)
        }
        if !kinds.isEmpty { f.append(("kinds", .strings(kinds))) }
        var times: [String: Double] = [:]
        for (name, value) in [("since", since), ("until", until)] {
            guard let value else { continue }
            guard let t = HistoryTime.parse(value, now: now) else {
                throw fail("--\(name) \(value): not a time (30d, 12h, 45m, 2026-11-24, 2026-11-24T10:00)", code: 2)
            }
            times[name] = t
            f.append((name, .number(t)))
        }
        if let s = times["since"], let u = times["until"], s > u { throw fail("--since is after --until: 'since' is after 'until'", code: 2) }
        return f
    }
}

/// Where the history comes from: the local lifeboatd, or a history file read directly.
struct HistorySourceOptions: ParsableArguments {
    @OptionGroup var socket: SocketOption
    @Option(help: "Read this history file (a node's STATE_DIR/history.sqlite, or a copy) instead of asking lifeboatd.")
    var database: String?

    /// Answers `request` like lifeboatd would; `protected` stands for the HA instance count
    /// that only lifeboatd knows (a file alone: the instances its incidents name).
    func call(_ request: [(String, JSONValue)], protected: Int? = nil) throws -> JSONValue {
        guard let database else { return try ControlClient.call(.object(request), socketPath: socket.path) }
        guard FileManager.default.fileExists(atPath: database) else { throw fail("\(database): no such file", code: 2) }
        let db: HistoryDatabase
        do { db = try HistoryDatabase(path: database) } catch { throw fail("\(database): not a Lifeboat history (\(error))", code: 2) }
        let req = JSONValue.object(request)
        do {
            switch req["cmd"] {
            case .string("history"): return .object([("ok", .bool(true))] + (try HistoryService.records(db, req)))
            case .string("incidents"): return .object([("ok", .bool(true))] + (try HistoryService.incidents(db, req)))
            case .string("incident"):
                guard case .number(let id) = req["id"] ?? .null else { throw HistoryError("no incident id") }
                return .object([("ok", .bool(true))] + (try HistoryService.incident(db, id: Int(id))))
            default:
                let count = try protected ?? db.incidents(HistoryFilter()).incidents.reduce(into: Set<String>()) { $0.formUnion($1.instances) }.count
                return .object(
                    [("ok", .bool(true))] + (try HistoryService.report(db, req, now: Date().timeIntervalSince1970, protectedInstances: count)))
            }
        } catch let e as HistoryError {
            throw fail(e.description, code: 2)
        }
    }
}

struct History: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "What happened, when, where and how: the durable history, filtered, as a table or JSON.",
        discussion: """
            Every node keeps the whole history (STATE_DIR/history.sqlite), written from the replicated log.
            Each line: time (UTC), the node that recorded it, its incident, and what happened.
            Examples:
              lifeboat history --instance vm-1 --since 2026-11-24 --until 2026-11-25
              lifeboat history --host compute-3 --kind fence,evacuate --since 30d
              lifeboat history --incident 12 --format json
            """)
    enum Format: String, ExpressibleByArgument { case text, json }
    @OptionGroup var source: HistorySourceOptions
    @OptionGroup var filter: HistoryFilterOptions
    @Option(help: "Only the steps of this incident.") var incident: Int?
    @Option(help: "How many records (the newest that match).") var limit = 50
    @Option(help: "text or json.") var format: Format = .text
    @Flag(help: "Print the raw JSON of lifeboatd's answer.") var json = false
    @Flag(help: "Print the serial console captured when the host was fenced.") var console = false

    func run() throws {
        var request: [(String, JSONValue)] = [("cmd", .string("history")), ("limit", .int(limit))]
        request += try filter.fields(now: Date().timeIntervalSince1970)
        if let incident { request.append(("incident", .int(incident))) }
        let r = try source.call(request)
        if json { print(JSONWriter.write(r, timeKeys: [])); return }
        var actions: [JSONValue] = []
        if case .array(let a) = r["actions"] ?? .null {
            actions = a.map(Self.record).filter { filter.host == nil || $0["host"] == .string(filter.host!) }
        }
        if console {
            let fences = actions.filter { $0["kind"] == .string("fence") }
            guard let last = fences.last else { throw fail("no fence record\(filter.host.map { " for \($0)" } ?? "")", code: 1) }
            if case .string(let text) = last["console"] ?? .null { print(text, terminator: text.hasSuffix("\n") ? "" : "\n") }
            else { throw fail("no console was captured: \(BMC.text(last["console_unavailable"]))", code: 1) }
            return
        }
        if format == .json {
            var out: [(String, JSONValue)] = []
            if source.database == nil {
                out += [("actions", .array(actions)), ("history", r["history"] ?? .array([])), ("notices", r["notices"] ?? .array([]))]
            }
            for key in ["records", "matched", "incidents", "durable", "downtime"] { if let v = r[key] { out.append((key, v)) } }
            print(JSONWriter.write(.object(out), timeKeys: []))
            return
        }
        guard case .array(let records) = r["records"] ?? .null else {
            throw fail("this lifeboatd keeps no durable history: \(BMC.text(r["durable"]?["error"]))", code: 1)
        }
        print(Self.table(records, incidents: r["incidents"]))
        if let d = r["downtime"], case .number(let seconds) = d["seconds"] ?? .null {
            var line = "\(BMC.text(d["instance"])) was down \(HistorySentence.duration(seconds)) in this period"
            if case .array(let list) = d["incidents"] ?? .null, !list.isEmpty {
                line += " (incident\(list.count == 1 ? "" : "s") " + list.map { "#\(BMC.text($0["incident"]))" }.joined(separator: ", ") + ")"
            }
            if d["still_down"] == .bool(true) { line += ", and is still down" }
            print(line)
        }
        if case .number(let matched) = r["matched"] ?? .null, Int(matched) > records.count {
            print("(the newest \(records.count) of \(Int(matched)) matching records; --limit N for more)")
        }
        if let d = r["durable"], case .number(let pruned) = d["pruned_entries"] ?? .null, pruned > 0 {
            print("(retention pruned \(Int(pruned)) older records, up to \(BMC.text(d["pruned_until"])))")
        }
        if let d = r["durable"], case .array(let missing) = d["missing"] ?? .null, !missing.isEmpty {
            print("(this node is still receiving \(missing.count) range\(missing.count == 1 ? "" : "s") of records it missed)")
        }
    }

    /// Records as a table: time, node, incident, what happened.
    static func table(_ records: [JSONValue], incidents: JSONValue?) -> String {
        guard !records.isEmpty else { return "no matching record" }
        let rows = records.map { r -> [String] in
            let at: Double = if case .number(let t) = r["at"] ?? .null { t } else { 0 }
            let inc: String = if case .number(let n) = r["incident"] ?? .null { "#\(Int(n))" } else { "" }
            return [HistoryTime.utc(at), BMC.text(r["node"]), inc, BMC.text(r["text"])]
        }
        return TextTable(["time (UTC)", "node", "incident", "what happened"], rows).render().trimmingCharacters(in: .newlines)
    }
}

struct IncidentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incident", abstract: "Incidents: one failure (or intervention) and every step taken for it.",
        subcommands: [List.self, Show.self], defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Incidents, newest last.")
        @OptionGroup var source: HistorySourceOptions
        @OptionGroup var filter: HistoryFilterOptions
        @Option(help: "How many (the newest that match).") var limit = 50
        @Option(help: "text or json.") var format: History.Format = .text

        func run() throws {
            var request: [(String, JSONValue)] = [("cmd", .string("incidents")), ("limit", .int(limit))]
            request += try filter.fields(now: Date().timeIntervalSince1970)
            let r = try source.call(request)
            if format == .json { print(JSONWriter.write(.object([("incidents", r["incidents"] ?? .array([])), ("matched", r["matched"] ?? .null)]), timeKeys: [])); return }
            guard case .array(let list) = r["incidents"] ?? .null, !list.isEmpty else { print("no matching incident"); return }
            let rows = list.map { i -> [String] in
                let opened: Double = if case .number(let t) = i["opened_at"] ?? .null { t } else { 0 }
                var took = ""
                if case .number(let r) = i["resolved_at"] ?? .null { took = HistorySentence.duration(r - opened) }
                return ["#\(BMC.text(i["id"]))", HistoryTime.utc(opened, milliseconds: false), BMC.text(i["kind"]), BMC.text(i["outcome"] ?? .string("open")), took, BMC.text(i["summary"])]
            }
            print(TextTable(["incident", "opened (UTC)", "kind", "outcome", "took", "summary"], rows).render().trimmingCharacters(in: .newlines))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "An incident's timeline: each stage with its start, duration, outcome and where it ran.")
        @OptionGroup var source: HistorySourceOptions
        @Argument(help: "The incident's number (lifeboat incident list).") var id: Int
        @Option(help: "text or json.") var format: History.Format = .text
        @Flag(help: "Also list every record of the incident.") var records = false

        func run() throws {
            guard id >= 1 else { throw fail("an incident number starts at 1", code: 2) }
            let r = try source.call([("cmd", .string("incident")), ("id", .int(id))])
            if format == .json {
                print(JSONWriter.write(.object([("incident", r["incident"] ?? .null), ("stages", r["stages"] ?? .array([])), ("records", r["records"] ?? .array([]))]), timeKeys: []))
                return
            }
            print(Self.render(r, withRecords: records))
        }

        static func render(_ r: JSONValue, withRecords: Bool) -> String {
            let i = r["incident"] ?? .null
            let opened: Double = if case .number(let t) = i["opened_at"] ?? .null { t } else { 0 }
            var out = "Incident #\(BMC.text(i["id"])): \(BMC.text(i["summary"]))\n"
            out += "  kind \(BMC.text(i["kind"])), cause \(BMC.text(i["cause"]))"
            if let h = i["host"] { out += ", host \(BMC.text(h))" }
            if let s = i["segment"] { out += ", segment \(BMC.text(s))" }
            out += "\n  opened   \(HistoryTime.utc(opened))\n"
            if case .number(let t) = i["resolved_at"] ?? .null {
                out += "  resolved \(HistoryTime.utc(t))  (\(HistorySentence.duration(t - opened)) after it opened): \(BMC.text(i["outcome"]))\n"
            } else {
                out += "  not resolved yet\n"
            }
            if case .number(let t) = i["closed_at"] ?? .null { out += "  closed   \(HistoryTime.utc(t))\n" }
            if case .array(let list) = i["instances"] ?? .null, !list.isEmpty {
                out += "  took down \(list.count) protected instance\(list.count == 1 ? "" : "s"): \(list.map { BMC.text($0) }.joined(separator: ", "))\n"
            }
            if let rel = i["related"] { out += "  related to incident #\(BMC.text(rel))\n" }
            out += "\nTimeline (times from the opening; decided by = the leader that recorded the step, done on = the node that reported it)\n"
            var rows: [[String]] = []
            if case .array(let stages) = r["stages"] ?? .null {
                for s in stages {
                    let start: Double = if case .number(let t) = s["started_at"] ?? .null { t } else { opened }
                    var took = ""
                    if case .number(let ms) = s["duration_ms"] ?? .null { took = HistorySentence.duration(ms / 1000) }
                    let attempt: String = if case .number(let n) = s["attempt"] ?? .null, n > 1 { " (attempt \(Int(n)))" } else { "" }
                    rows.append([
                        "+" + HistorySentence.duration(max(0, start - opened)), BMC.text(s["name"]) + attempt, took,
                        s["outcome"].map { BMC.text($0) } ?? (s["key"] == nil ? "" : "running"), s["decided_by"].map { BMC.text($0) } ?? "",
                        s["executed_on"].map { BMC.text($0) } ?? "", s["detail"].map { BMC.text($0) } ?? "",
                    ])
                }
            }
            out += TextTable(["at", "stage", "took", "outcome", "decided by", "done on", "detail"], rows).render(indent: 2)
            if withRecords, case .array(let records) = r["records"] ?? .null {
                out += "\nRecords\n" + History.table(records, incidents: nil) + "\n"
            }
            return out.trimmingCharacters(in: .newlines)
        }
    }
}

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The SLA report: downtime and availability per instance, failures and time to recover per kind (p50/p95), failures per host, recoveries that needed an operator.",
        discussion: """
            Examples:
              lifeboat report --since 30d
              lifeboat report --since 2026-11-01 --until 2026-12-01 --segment rack-a --format html --output nov.html
            """)
    enum Format: String, ExpressibleByArgument { case text, json, html }
    @OptionGroup var source: HistorySourceOptions
    @Option(help: "From this time (default: 30 days ago); same forms as history --since.") var since: String = "30d"
    @Option(help: "Until this time (default: now).") var until: String?
    @Option(help: "Only this failover segment.") var segment: String?
    @Option(help: "text, json or html.") var format: Format = .text
    @Option(help: "Write to this file instead of standard output.") var output: String?
    @Option(help: "With --database: how many protected instances to count availability over (default: those its incidents name).")
    var protected: Int?

    func run() throws {
        let now = Date().timeIntervalSince1970
        var request: [(String, JSONValue)] = [("cmd", .string("report")), ("format", .string(format.rawValue))]
        guard let s = HistoryTime.parse(since, now: now) else { throw fail("--since \(since): not a time", code: 2) }
        request.append(("since", .number(s)))
        if let until {
            guard let u = HistoryTime.parse(until, now: now) else { throw fail("--until \(until): not a time", code: 2) }
            request.append(("until", .number(u)))
        }
        if let segment { request.append(("segment", .string(segment))) }
        let r = try source.call(request, protected: protected)
        let text: String
        switch format {
        case .json: text = JSONWriter.write(r["report"] ?? .null, timeKeys: []) + "\n"
        case .text, .html: text = BMC.text(r["rendered"])
        }
        if let output {
            do { try text.write(toFile: output, atomically: true, encoding: .utf8) } catch { throw fail("\(output): \(error)", code: 1) }
            print("written to \(output)")
        } else {
            print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
        }
    }
}
