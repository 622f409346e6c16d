import LifeboatCore

/// The SLA report over a period: per instance downtime and availability, per failure kind
/// counts and time to recover (p50/p95), failures per host (which hosts need attention),
/// and the recoveries that needed an operator. Computed from the durable history only.
public struct SLAReport: Sendable, Equatable {
    public var since: Double
    public var until: Double
    public var segment: String?
    /// Protected (HA) instances in the scope now: the denominator of the availability.
    public var protectedInstances: Int
    /// Instances with downtime in the period, most downtime first.
    public var instances: [InstanceDowntime]
    /// 1 − (sum of downtime) / (protected instances × period); 1 when nothing was down.
    public var availability: Double
    public var kinds: [KindStats]
    public var hosts: [HostStats]
    public var needingOperator: [OperatorCase]
    /// Every incident in the period, oldest first, with its phases (the charts).
    public var incidents: [IncidentLine]

    public struct InstanceDowntime: Sendable, Equatable {
        public var instance: String
        public var downtime: Double
        public var availability: Double
        public var incidents: [Int]
        /// Still down at the end of the period.
        public var stillDown: Bool
    }

    public struct KindStats: Sendable, Equatable {
        public var kind: String
        public var count: Int
        /// By outcome (`recovered`, `partial`, …, `open`).
        public var outcomes: [String: Int]
        /// Time to recover (opened → resolved) of the recovered and partial ones.
        public var mttrP50: Double?
        public var mttrP95: Double?
    }

    public struct HostStats: Sendable, Equatable {
        public var host: String
        public var failures: Int
        public var byKind: [String: Int]
        /// Instance downtime its failures caused.
        public var downtime: Double
    }

    public struct OperatorCase: Sendable, Equatable {
        public var incident: Int
        public var kind: String
        public var subject: String
        public var why: String
    }

    public struct IncidentLine: Sendable, Equatable {
        public var id: Int
        public var kind: String
        public var subject: String
        public var openedAt: Double
        public var resolvedAt: Double?
        public var outcome: String?
        public var phases: IncidentTimeline.Phases
        public var summary: String
    }
}

extension SLAReport {
    /// Notices that mean Lifeboat stopped and asked for a person.
    static let operatorNotices: Set<String> = [
        "fence_failed", "flapping", "no_capacity", "evacuation_failed", "evacuation_interrupted", "instance_restart_limit",
        "resource_blocked", "storm_halted", "force_down_failed", "service_step_failed", "segment_disabled",
    ]
    /// Events that are a person's hand in a recovery.
    static let operatorEvents: Set<String> = ["fence_confirmed_by_operator", "storm_reset", "resource_cleanup"]
    /// The kinds of records the report reads: the steps (their timings) and the operator's
    /// interventions. An incident's other records (every failure report it collected) do
    /// not change a number of the report.
    public static let recordKinds: Set<String> = operatorEvents.union(["action_started", "action_finished"])

    /// The report from incidents (those that overlap the period) and their records.
    public static func compute(
        since: Double, until: Double, segment: String?, protectedInstances: Int, incidents: [(Incident, [HistoryRecord])]
    ) -> SLAReport {
        let period = max(until - since, 1e-9)
        var down: [String: (time: Double, incidents: [Int], stillDown: Bool)] = [:]
        var kinds: [String: [(Incident, Double?)]] = [:]
        var hosts: [String: HostStats] = [:]
        var cases: [OperatorCase] = []
        var lines: [IncidentLine] = []
        for (inc, records) in incidents.sorted(by: { $0.0.id < $1.0.id }) {
            let timeline = IncidentTimeline(incident: inc, records: records)
            let phases = timeline.phases
            // Downtime of each instance the incident took down.
            var caused = 0.0
            if inc.outcome != .cancelled && inc.outcome != .ignored {
                for i in inc.instances {
                    let end: Double
                    var still = false
                    if let up = phases.instanceUpAt[i] { end = up }
                    else if let closed = inc.closedAt { end = closed }
                    else { end = until; still = true }
                    let t = max(0, min(end, until) - max(inc.openedAt, since))
                    guard t > 0 || still else { continue }
                    var d = down[i] ?? (0, [], false)
                    d.time += t
                    d.incidents.append(inc.id)
                    d.stillDown = d.stillDown || still
                    down[i] = d
                    caused += t
                }
            }
            // Counted where it was opened: incidents opened before the period only add downtime.
            if inc.openedAt >= since {
                kinds[inc.kind.rawValue, default: []].append((inc, inc.resolvedAt.map { $0 - inc.openedAt }))
                if let h = inc.host, [.hostLost, .processFailed, .vmFailed, .notification].contains(inc.kind) {
                    var s = hosts[h] ?? HostStats(host: h, failures: 0, byKind: [:], downtime: 0)
                    s.failures += 1
                    s.byKind[inc.kind.rawValue, default: 0] += 1
                    s.downtime += caused
                    hosts[h] = s
                }
                if let why = operatorReason(inc, records) {
                    cases.append(OperatorCase(incident: inc.id, kind: inc.kind.rawValue, subject: subject(inc), why: why))
                }
            }
            lines.append(
                IncidentLine(
                    id: inc.id, kind: inc.kind.rawValue, subject: subject(inc), openedAt: inc.openedAt, resolvedAt: inc.resolvedAt,
                    outcome: inc.outcome?.rawValue, phases: phases, summary: inc.summary))
        }
        let instances = down.map { i, d in
            InstanceDowntime(instance: i, downtime: d.time, availability: 1 - d.time / period, incidents: d.incidents, stillDown: d.stillDown)
        }.sorted { ($0.downtime, $1.instance) > ($1.downtime, $0.instance) }
        let total = instances.reduce(0) { $0 + $1.downtime }
        let denominator = Double(max(protectedInstances, instances.count)) * period
        let kindStats = kinds.keys.sorted().map { k -> KindStats in
            let list = kinds[k]!
            var outcomes: [String: Int] = [:]
            for (inc, _) in list { outcomes[inc.outcome?.rawValue ?? "open", default: 0] += 1 }
            let mttr = list.filter { $0.0.outcome == .recovered || $0.0.outcome == .partial }.compactMap(\.1).sorted()
            return KindStats(kind: k, count: list.count, outcomes: outcomes, mttrP50: percentile(mttr, 0.5), mttrP95: percentile(mttr, 0.95))
        }
        return SLAReport(
            since: since, until: until, segment: segment, protectedInstances: protectedInstances, instances: instances,
            availability: denominator > 0 ? max(0, 1 - total / denominator) : 1, kinds: kindStats,
            hosts: hosts.values.sorted { ($0.failures, $1.host) > ($1.failures, $0.host) }, needingOperator: cases, incidents: lines)
    }

    /// Nearest-rank percentile of sorted values.
    static func percentile(_ sorted: [Double], _ p: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((p * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    static func subject(_ inc: Incident) -> String {
        if let p = inc.process, let h = inc.host { return "\(p) on \(h)" }
        if let i = inc.instance { return i }
        if let h = inc.host { return h }
        return inc.segment.map { "segment \($0)" } ?? "-"
    }

    /// Why a person had to step in, or nil.
    static func operatorReason(_ inc: Incident, _ records: [HistoryRecord]) -> String? {
        var reasons: [String] = []
        for r in records where r.result == "applied" {
            if operatorEvents.contains(r.kind) { reasons.append(HistorySentence.describe(r)) }
            if r.kind == "action_started", r.action == "notify", let kind = r.event["action"]?["notice"]?["kind"]?.text,
                operatorNotices.contains(kind)
            {
                reasons.append(r.event["action"]?["notice"]?["reason"]?.text ?? kind)
            }
        }
        if inc.outcome == .failed || inc.outcome == .partial, reasons.isEmpty { reasons.append(inc.summary) }
        return reasons.isEmpty ? nil : reasons.joined(separator: "; ")
    }
}

extension HistoryDatabase {
    /// The report over `since…until`, for one segment or all; `protectedInstances` counts
    /// the HA instances in that scope now.
    public func report(since: Double, until: Double, segment: String?, protectedInstances: Int) throws -> SLAReport {
        var f = HistoryFilter()
        f.since = since
        f.until = until
        f.segment = segment
        f.limit = 1_000_000
        let incidents = try incidents(f).incidents
        let byIncident = try records(ofIncidents: Set(incidents.map(\.id)), kinds: SLAReport.recordKinds)
        let withRecords = incidents.map { ($0, byIncident[$0.id] ?? []) }
        return SLAReport.compute(since: since, until: until, segment: segment, protectedInstances: protectedInstances, incidents: withRecords)
    }
}
