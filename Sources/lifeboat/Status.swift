import ArgumentParser
import Foundation
import LifeboatCore

/// `lifeboat status`: members, quorum, leader, epoch and every host, like `crm_mon -1`.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the cluster as this host's lifeboatd sees it.")

    enum Format: String, ExpressibleByArgument { case text, json }
    @OptionGroup var socket: SocketOption
    @Option(help: "text or json.") var format: Format = .text
    @Flag(help: "Refresh every --interval seconds until interrupted.") var watch = false
    @Option(help: "Seconds between refreshes with --watch.") var interval: Double = 1

    func run() throws {
        repeat {
            let response = try ControlClient.call(.object([("cmd", .string("status"))]), socketPath: socket.path)
            let status = response["status"] ?? .null
            var out = watch ? "\u{1B}[H\u{1B}[2J" : ""
            switch format {
            case .json: out += JSONWriter.write(status, timeKeys: []) + "\n"
            case .text: out += Self.text(status)
            }
            // Unbuffered, so a watcher behind a pipe sees every refresh.
            FileHandle.standardOutput.write(Data(out.utf8))
            if watch { Thread.sleep(forTimeInterval: max(0.1, interval)) }
        } while watch
    }

    static func text(_ s: JSONValue) -> String {
        func str(_ v: JSONValue?) -> String {
            switch v ?? .null {
            case .string(let x): x
            case .number(let n): JSONWriter.write(.number(n))
            case .bool(let b): b ? "yes" : "no"
            case .null: "-"
            default: JSONWriter.write(v!)
            }
        }
        var members: [String] = []
        if case .array(let m) = s["members"] ?? .null { members = m.map { str($0) } }
        var out = "Node \(str(s["node"])) (node id \(str(s["node_id"]))), \(s["synced"] == .bool(true) ? "synced" : "NOT synced")\n"
        out += "Quorum: \(s["quorate"] == .bool(true) ? "quorate" : "NOT quorate")   Leader: \(str(s["leader"]))   "
        out += "Epoch: \(str(s["epoch"]))   Configuration version: \(str(s["config_version"]))\n"
        out += "Members (\(members.count)): \(members.joined(separator: " "))\n"
        out += "Term: \(str(s["term"])) held by \(str(s["term_holder"]))"
        if s["acting"] == .bool(true) {
            out += "   acting\n"
        } else if case .string(let why) = s["not_acting_because"] ?? .null {
            out += "   NOT acting: \(why)\n"
        } else {
            out += "\n"
        }
        if case .number(let since) = s["quorum_lost_at"] ?? .null {
            out += "QUORUM LOST at \(Date(timeIntervalSince1970: since)): no fencing, evacuation or configuration change here\n"
        }
        if case .array(let silent) = s["silent_members"] ?? .null, !silent.isEmpty {
            out += "Set aside (never offered in a sync round): \(silent.map { str($0) }.joined(separator: " "))\n"
        }
        var rows = [["HOST", "NODE", "SEGMENT", "ROLE", "MEMBER", "MAINT", "RESERVED", "FENCED", "SERVICE", "RECOVERY"]]
        if case .array(let hosts) = s["hosts"] ?? .null {
            for h in hosts {
                var recovery = "-"
                if let r = h["recovery"], case .object = r { recovery = "\(str(r["phase"])) (\(str(r["cause"])))" }
                rows.append([
                    str(h["name"]), str(h["node_id"]), str(h["segment"]), str(h["role"]), str(h["member"]),
                    str(h["maintenance"]), str(h["reserved"]), str(h["fenced"]), str(h["service"]), recovery,
                ])
            }
        }
        if rows.count == 1 { out += "No hosts configured (lifeboat config apply FILE).\n" } else { out += table(rows) }
        out += recoveries(s["recoveries"], str)
        out += drains(s["drains"], str)
        if case .array(let incidents) = s["incidents"] ?? .null, !incidents.isEmpty {
            out += "Open incidents: " + incidents.map { "#\(str($0["id"])) \(str($0["summary"]))" }.joined(separator: "; ") + "\n"
        }
        if case .array(let running) = s["executing"] ?? .null, !running.isEmpty {
            out += "Executing: \(running.map { str($0) }.joined(separator: ", "))\n"
        }
        if case .array(let waiting) = s["waiting_for_executor"] ?? .null, !waiting.isEmpty {
            out += "Decided, waiting for an executor: \(waiting.map { str($0) }.joined(separator: ", "))\n"
        }
        if case .array(let pending) = s["pending_notices"] ?? .null, !pending.isEmpty {
            out += "Notices not yet recorded:\n" + pending.map { "  \(str($0["reason"]))\n" }.joined()
        }
        if case .string(let e) = s["store_error"] ?? .null { out += "STATE DIRECTORY ERROR: \(e)\n" }
        if case .string(let e) = s["history"]?["error"] ?? .null { out += "HISTORY ERROR: \(e)\n" }
        return out
    }

    /// Each host recovery still running: fence, Nova steps, then "n of m ACTIVE" with the
    /// state and target of each HA instance, so an operator watching `--watch` sees it move.
    static func recoveries(_ v: JSONValue?, _ str: (JSONValue?) -> String) -> String {
        guard case .array(let list) = v ?? .null, !list.isEmpty else { return "" }
        var out = ""
        for r in list {
            out += "Recovery of \(str(r["host"])) (\(str(r["cause"]))): fenced \(str(r["fenced"])), "
            out += "force-down \(str(r["force_down"])), disable \(str(r["disable"])), "
            out += "\(str(r["moved"])) of \(str(r["total"])) HA instances ACTIVE elsewhere"
            out += ", \(str(r["in_flight"])) evacuating, \(str(r["waiting"])) waiting\n"
            if case .string(let e) = r["last_error"] ?? .null { out += "  last error: \(e)\n" }
            if case .array(let instances) = r["instances"] ?? .null {
                for i in instances where i["state"] != .string("active") {
                    out += "  \(str(i["id"])): \(str(i["state"]))\(i["to"].map { $0 == .null ? "" : " → \(str($0))" } ?? "")\n"
                }
            }
        }
        return out
    }

    /// Each drain: "n of m moved", what moves where, what stays and why, or "empty".
    static func drains(_ v: JSONValue?, _ str: (JSONValue?) -> String) -> String {
        guard case .array(let list) = v ?? .null, !list.isEmpty else { return "" }
        var out = ""
        for d in list {
            out += "Drain of \(str(d["host"])): \(str(d["moved"])) of \(str(d["total"])) moved, \(str(d["in_flight"])) moving, \(str(d["waiting"])) waiting"
            if d["finished_at"] != .null && d["finished_at"] != nil {
                out += d["empty"] == .bool(true) ? " — DONE: empty, safe to work on\n" : " — DONE, but instances stay (below)\n"
            } else {
                out += "\n"
            }
            if case .array(let moving) = d["moving"] ?? .null {
                for m in moving { out += "  \(str(m["id"])) → \(str(m["to"]))\n" }
            }
            if case .object(let blocked) = d["blocked"] ?? .null {
                for (id, why) in blocked { out += "  \(id) stays: \(str(why))\n" }
            }
        }
        return out
    }

    static func table(_ rows: [[String]]) -> String {
        var widths = [Int](repeating: 0, count: rows[0].count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        return rows.map { r in
            r.enumerated().map { i, c in i == r.count - 1 ? c : c + String(repeating: " ", count: widths[i] - c.count) }
                .joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}
