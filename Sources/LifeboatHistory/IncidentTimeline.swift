import LifeboatCore

/// An incident's timeline: each step as a stage with its start, end, outcome, the node
/// that decided it (the leader that recorded the start) and the node that carried it out
/// (the one that reported the result), built from the incident's history records.
public struct IncidentTimeline: Sendable {
    public struct Stage: Sendable, Equatable {
        /// `detected`, `fence`, `force_down`, `disable_service`, `evacuate`, `restart_process`,
        /// `restart_instance`, `enable_service`, `notify`, or an event kind for a moment
        /// (`node_joined`, `fence_confirmed_by_operator`).
        public var kind: String
        /// For people: "fence host1", "evacuate vm1 to host3".
        public var name: String
        public var startedAt: Double
        public var finishedAt: Double?
        public var outcome: String?
        public var decidedBy: String?
        public var executedOn: String?
        /// The attempt's facts: device and level, target, Nova request id, the error.
        public var detail: String?
        /// The action's key (nil for a moment).
        public var key: String?
        public var attempt: Int = 1

        public var duration: Double? { finishedAt.map { $0 - startedAt } }
    }

    public var incident: Incident
    public var stages: [Stage]

    public init(incident: Incident, records: [HistoryRecord]) {
        self.incident = incident
        var stages: [Stage] = []
        var open: [UInt64: Int] = [:]  // attempt id (epoch of the start) → stage index
        var attempts: [String: Int] = [:]
        for r in records {
            let who = r.originName ?? "node \(r.origin)"
            // The body is parsed only for the steps (a long incident collects thousands of
            // failure reports, which need only their sentence).
            let e = ["action_started", "action_finished", "console_captured"].contains(r.kind) ? r.event : .null
            switch r.kind {
            case "action_started" where r.result == "applied":
                guard let a = e["action"] else { continue }
                let kind = a["kind"]?.text ?? "?"
                let key = r.actionKey ?? kind
                attempts[key, default: 0] += 1
                var s = Stage(
                    kind: kind, name: Self.name(a), startedAt: r.at, decidedBy: who, key: key)
                s.attempt = attempts[key]!
                if kind == "notify" {
                    s.finishedAt = r.at
                    s.outcome = "told"
                    s.detail = a["notice"]?["reason"]?.text
                }
                open[r.epoch] = stages.count
                stages.append(s)
            case "action_finished":
                guard case .number(let id) = e["attempt"]?["id"] ?? .null, let n = open[UInt64(id)] else { continue }
                stages[n].finishedAt = r.at
                stages[n].executedOn = who
                if r.result == "applied" {
                    stages[n].outcome = r.outcome
                } else {
                    stages[n].outcome = "stale"
                }
                stages[n].detail = Self.detail(e["report"] ?? .null)
            case "console_captured":
                guard case .number(let id) = e["attempt"]?["id"] ?? .null, let n = open[UInt64(id)] else { continue }
                let console = e["console"]?["captured"] != nil ? "console captured" : "no console: \(e["console"]?["unavailable"]?.text ?? "?")"
                stages[n].detail = [stages[n].detail, console].compactMap { $0 }.joined(separator: "; ")
            default:
                guard r.result == "applied" else { continue }
                var s = Stage(kind: r.kind, name: HistorySentence.describe(r), startedAt: r.at, decidedBy: who)
                if stages.isEmpty || r.at <= incident.openedAt { s.kind = "detected" }
                stages.append(s)
            }
        }
        self.stages = stages.sorted { ($0.startedAt, $0.key == nil ? 0 : 1) < ($1.startedAt, $1.key == nil ? 0 : 1) }
    }

    static func name(_ a: JSONValue) -> String {
        let host = a["host"]?.text ?? "?"
        switch a["kind"]?.text ?? "?" {
        case "fence": return "fence \(host)"
        case "force_down": return "force down \(host) in Nova"
        case "disable_service": return "disable \(host) in the scheduler"
        case "enable_service": return "re-enable \(host) in Nova"
        case "restart_process": return "restart \(a["process"]?.text ?? "?") on \(host)"
        case "restart_instance": return "restart \(a["instance"]?.text ?? "?")"
        case "evacuate": return "evacuate \(a["instance"]?.text ?? "?") to \(a["to"]?.text ?? "?")"
        case "migrate": return "migrate \(a["instance"]?.text ?? "?") to \(a["to"]?.text ?? "?")"
        case "notify": return "notice \(a["notice"]?["kind"]?.text ?? "?")"
        case let k: return k
        }
    }

    static func detail(_ report: JSONValue) -> String? {
        var facts: [String] = []
        if case .object(let attrs) = report["attributes"] ?? .null {
            for (k, v) in attrs { if let s = v.text { facts.append("\(k.replacingOccurrences(of: "_", with: " ")) \(s)") } }
        }
        if let m = report["message"]?.text, !m.isEmpty { facts.append(m) }
        return facts.isEmpty ? nil : facts.joined(separator: "; ")
    }

    /// Seconds from the incident's opening to the end of each phase, for the report and
    /// the metrics: the first step started, fenced, forced down, disabled, every instance
    /// running again.
    public var phases: Phases {
        var p = Phases()
        let t0 = incident.openedAt
        let actions = stages.filter { $0.key != nil && $0.kind != "notify" }
        p.reaction = actions.map(\.startedAt).min().map { $0 - t0 }
        func done(_ kind: String) -> Stage? { stages.last { $0.kind == kind && ($0.outcome == "ok" || $0.outcome == "off") } }
        p.fence = done("fence").flatMap(\.duration)
        p.fencedAfter = done("fence").flatMap(\.finishedAt).map { $0 - t0 }
        p.forceDown = done("force_down").flatMap(\.duration)
        p.disable = done("disable_service").flatMap(\.duration)
        let back = stages.filter { ["evacuate", "restart_instance", "migrate"].contains($0.kind) && $0.outcome == "ok" }
        p.instanceDurations = back.compactMap(\.duration)
        var upAt: [String: Double] = [:]
        for s in back {
            guard let key = s.key, let i = key.split(separator: ":").last.map(String.init), let end = s.finishedAt else { continue }
            upAt[i] = end
        }
        p.instanceUpAt = upAt
        p.allBackAfter = upAt.values.max().map { $0 - t0 }
        p.restartProcess = done("restart_process").flatMap(\.duration)
        return p
    }

    public struct Phases: Sendable, Equatable {
        /// From the failure's report to the first step.
        public var reaction: Double? = nil
        /// The successful fence attempt, and when it ended (from the opening).
        public var fence: Double? = nil
        public var fencedAfter: Double? = nil
        public var forceDown: Double? = nil
        public var disable: Double? = nil
        /// Each successful evacuation or restart.
        public var instanceDurations: [Double] = []
        /// When each instance ran again (cluster time).
        public var instanceUpAt: [String: Double] = [:]
        /// From the opening to the last instance running again.
        public var allBackAfter: Double? = nil
        public var restartProcess: Double? = nil
    }
}
