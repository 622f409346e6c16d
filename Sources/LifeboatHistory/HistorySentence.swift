import LifeboatCore

/// History for people: one sentence per record (never the raw event), as `lifeboat
/// history`, `lifeboat incident show` and the API's history show it.
public enum HistorySentence {
    public static func describe(_ r: HistoryRecord) -> String {
        var text = describe(event: r.event)
        switch r.result {
        case "rejected": text += " (refused: \(r.reason ?? "?"))"
        case "stale": text += " (stale, changed nothing: \(r.reason ?? "?"))"
        default: break
        }
        return text
    }

    public static func describe(event e: JSONValue) -> String {
        let kind = e["kind"]?.text ?? "?"
        let host = e["host"]?.text ?? "?"
        let process = e["process"]?.text ?? "?"
        let instance = e["instance"]?.text ?? "?"
        let segment = e["segment"]?.text ?? "?"
        let on = e["on"] == .bool(true)
        switch kind {
        case "node_lost": return "\(host) left the cluster without a clean leave"
        case "node_joined": return "\(host) is a member of the cluster again"
        case "node_unseen": return "\(host) was not seen since the cluster started: treated as lost"
        case "quorum": return e["quorate"] == .bool(true) ? "the partition has quorum" : "the partition lost quorum"
        case "process_failed": return "\(process) failed on \(host)"
        case "process_recovered": return "\(process) runs again on \(host)"
        case "instance_failed": return "instance \(instance) failed"
        case "resource_blocked": return "\(process) on \(host) is blocked: \(e["reason"]?.text ?? "?")"
        case "resource_cleanup": return "an operator cleaned up \(process) on \(host)"
        case "resource_restart": return "an operator asked for \(process) on \(host) to be restarted"
        case "maintenance": return on ? "\(host) taken into maintenance" : "\(host) taken out of maintenance"
        case "fence_confirmed_by_operator": return "an operator confirmed that \(host) is powered off"
        case "fence_requested": return "an operator asked for \(host) to be fenced"
        case "segment_enabled": return on ? "segment \(segment) enabled" : "segment \(segment) disabled"
        case "reserved": return on ? "\(host) added to the reserve" : "\(host) taken out of the reserve"
        case "ha": return on ? "instance \(instance) protected (HA on)" : "instance \(instance) no longer protected (HA off)"
        case "storm_reset": return "an operator reset the storm guard of segment \(segment)"
        case "configure":
            return "configuration applied: \(count(e["segments"], "segment")), \(count(e["hosts"], "host")), \(count(e["instances"], "instance"))"
        case "inventory":
            guard case .array(let changes) = e["changes"] ?? .null else { return "inventory from Nova" }
            var kinds: [String: Int] = [:]
            for c in changes { kinds[c["kind"]?.text ?? "?", default: 0] += 1 }
            return "inventory from Nova: " + kinds.keys.sorted().map { "\(kinds[$0]!) \($0.replacingOccurrences(of: "_", with: " "))" }.joined(separator: ", ")
        case "segment_saved": return "segment \(e["segment"]?["name"]?.text ?? "?") saved"
        case "segment_removed": return "segment \(e["uuid"]?.text ?? "?") removed"
        case "host_saved": return "\(e["host"]?["name"]?.text ?? "?") saved in segment \(e["host"]?["segment"]?.text ?? "?")"
        case "host_removed": return "host \(e["uuid"]?.text ?? "?") removed from its segment"
        case "notification":
            let n = e["notification"] ?? .null
            let what = n["payload"]?["event"]?.text ?? ""
            return "notification \(n["type"]?.text ?? "?") \(what) about \(n["hostname"]?.text ?? "?")".replacingOccurrences(of: "  ", with: " ")
        case "leader_changed": return "node \(number(e["node"])) took a leadership term"
        case "action_started": return "started: " + describe(action: e["action"] ?? .null)
        case "action_finished": return finished(e)
        case "console_captured":
            if let text = e["console"]?["captured"]?.text { return "serial console captured: \(text)" }
            return "no serial console: \(e["console"]?["unavailable"]?.text ?? "?")"
        default: return kind.replacingOccurrences(of: "_", with: " ")
        }
    }

    /// What an action does, as a verb phrase.
    public static func describe(action a: JSONValue) -> String {
        let host = a["host"]?.text ?? "?"
        switch a["kind"]?.text ?? "?" {
        case "fence": return "fence \(host) (power off through its BMC)"
        case "force_down": return "force nova-compute on \(host) down in Nova"
        case "disable_service": return "disable nova-compute on \(host) in Nova's scheduler"
        case "enable_service": return "re-enable nova-compute on \(host)"
        case "restart_process": return "restart \(a["process"]?.text ?? "?") on \(host)"
        case "restart_instance": return "restart instance \(a["instance"]?.text ?? "?") on \(host)"
        case "evacuate": return "evacuate \(a["instance"]?.text ?? "?") from \(a["from"]?.text ?? "?") to \(a["to"]?.text ?? "?")"
        case "migrate": return "live-migrate \(a["instance"]?.text ?? "?") from \(a["from"]?.text ?? "?") to \(a["to"]?.text ?? "?")"
        case "notify": return "tell the operator: \(a["notice"]?["reason"]?.text ?? "?")"
        case let k: return k
        }
    }

    static func finished(_ e: JSONValue) -> String {
        let key = e["key"]?.text ?? "?"
        let report = e["report"] ?? .null
        let outcome = report["outcome"]?.text ?? "?"
        var text = "\(key.replacingOccurrences(of: ":", with: " ")): \(outcome)"
        if case .number(let ms) = report["duration_ms"] ?? .null { text += " in \(duration(ms / 1000))" }
        var facts: [String] = []
        if case .object(let attrs) = report["attributes"] ?? .null {
            for (k, v) in attrs {
                guard let s = v.text else { continue }
                facts.append("\(k.replacingOccurrences(of: "_", with: " ")) \(s)")
            }
        }
        if !facts.isEmpty { text += " (" + facts.joined(separator: ", ") + ")" }
        if let m = report["message"]?.text, !m.isEmpty { text += ": \(m)" }
        return text
    }

    /// Seconds as people read them: 120 ms, 4.2 s, 3 min 5 s, 2 h 10 min.
    public static func duration(_ seconds: Double) -> String {
        if seconds < 1 { return "\(Int((seconds * 1000).rounded())) ms" }
        if seconds < 60 { return seconds < 10 ? "\(Double(Int(seconds * 10)) / 10) s" : "\(Int(seconds.rounded())) s" }
        let s = Int(seconds.rounded())
        if s < 3600 { return s % 60 == 0 ? "\(s / 60) min" : "\(s / 60) min \(s % 60) s" }
        if s < 86400 { return (s % 3600) / 60 == 0 ? "\(s / 3600) h" : "\(s / 3600) h \((s % 3600) / 60) min" }
        return "\(s / 86400) d \((s % 86400) / 3600) h"
    }

    static func count(_ v: JSONValue?, _ noun: String) -> String {
        let n = number(v)
        return "\(n) \(noun)\(n == "1" ? "" : "s")"
    }

    static func number(_ v: JSONValue?) -> String {
        if case .number(let d) = v ?? .null { return d == d.rounded() ? "\(Int(d))" : "\(d)" }
        return "?"
    }
}
