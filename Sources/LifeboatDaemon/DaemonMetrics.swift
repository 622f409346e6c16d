import CoreMetrics
import LifeboatCore
import LifeboatReplication
import Prometheus
import Synchronization

/// Prometheus metrics of one node (swift-metrics' API, swift-prometheus' exposition).
///
/// Histograms and counters are fed from the replicated history entries as this node applies
/// them, so every node shows the same recovery numbers (scrape any; in a dashboard take
/// `max without(instance)`). Gauges are read from the state at each scrape.
///
/// Stages (`lifeboat_stage_duration_seconds{stage}`): `detection` (a failure's report to
/// its first step), `fence`, `force_down`, `disable`, `evacuation` (each instance),
/// `restart_process`, `restart_instance`, `enable_service`, `migration`, `recovery` (a
/// failure's report to its resolution).
final class DaemonMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    let tracking = Mutex(Tracking())

    struct Tracking {
        /// Open incidents' opening times, and those whose first step was seen.
        var openedAt: [Int: Double] = [:]
        var stepped: Set<Int> = []
        var resolved: Set<Int> = []
    }

    static let stageBuckets: [Duration] = [
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5),
        .seconds(10), .seconds(20), .seconds(30), .seconds(60), .seconds(120), .seconds(300), .seconds(600), .seconds(1800),
    ]

    init() {
        var f = PrometheusMetricsFactory(registry: registry)
        f.durationHistogramBuckets["lifeboat_stage_duration_seconds"] = Self.stageBuckets
        factory = f
    }

    static func stage(ofAction kind: String) -> String? {
        switch kind {
        case "fence": "fence"
        case "force_down": "force_down"
        case "disable_service": "disable"
        case "evacuate": "evacuation"
        case "restart_process": "restart_process"
        case "restart_instance": "restart_instance"
        case "enable_service": "enable_service"
        case "migrate": "migration"
        default: nil
        }
    }

    func observeStage(_ stage: String, seconds: Double) {
        guard seconds >= 0, seconds.isFinite else { return }
        Timer(label: "lifeboat_stage_duration_seconds", dimensions: [("stage", stage)], factory: factory)
            .recordNanoseconds(Int64(seconds * 1e9))
    }

    /// One applied history entry: stage durations, action and incident counts.
    func observe(_ entry: HistoryEntry) {
        let e = entry.event
        guard case .applied = entry.result, case .string(let kind) = e["kind"] ?? .null else { return }
        tracking.withLock { t in
            for inc in entry.applied.incidents {
                if t.openedAt[inc.id] == nil && !t.resolved.contains(inc.id) {
                    t.openedAt[inc.id] = inc.openedAt
                    Counter(label: "lifeboat_incidents_opened_total", dimensions: [("kind", inc.kind.rawValue)], factory: factory).increment()
                }
                if let outcome = inc.outcome, t.resolved.insert(inc.id).inserted {
                    Counter(
                        label: "lifeboat_incidents_total", dimensions: [("kind", inc.kind.rawValue), ("outcome", outcome.rawValue)],
                        factory: factory
                    ).increment()
                    if let r = inc.resolvedAt, outcome != .ignored { observeStage("recovery", seconds: r - inc.openedAt) }
                }
                if inc.closedAt != nil {
                    t.openedAt[inc.id] = nil
                    t.stepped.remove(inc.id)
                }
            }
            if kind == "action_started", let id = entry.applied.incident, let opened = t.openedAt[id],
                case .string(let a) = e["action"]?["kind"] ?? .null, a != "notify", t.stepped.insert(id).inserted
            {
                observeStage("detection", seconds: entry.at - opened)
            }
            // Bounded: incidents that never close (a host never re-admitted) are forgotten
            // oldest first past 10,000.
            if t.openedAt.count > 10_000, let oldest = t.openedAt.min(by: { $0.value < $1.value })?.key {
                t.openedAt[oldest] = nil
                t.stepped.remove(oldest)
            }
            if t.resolved.count > 20_000 { t.resolved = [] }
        }
        if kind == "action_finished", case .string(let key) = e["key"] ?? .null, let report = e["report"] {
            let action = String(key.prefix { $0 != ":" })  // `Action.key` starts with the kind
            let outcome = report["outcome"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? "unknown"
            Counter(label: "lifeboat_actions_total", dimensions: [("kind", action), ("outcome", outcome)], factory: factory).increment()
            if outcome == "ok" || outcome == "off", let stage = Self.stage(ofAction: action), case .number(let ms) = report["duration_ms"] ?? .null {
                observeStage(stage, seconds: ms / 1000)
            }
        }
    }

    /// Gauges from this node's view, then the exposition text.
    func exposition(_ view: View) -> String {
        func gauge(_ label: String, _ dims: [(String, String)], _ value: Double) {
            Gauge(label: label, dimensions: dims, factory: factory).record(value)
        }
        func gauge(_ label: String, _ value: Double) { gauge(label, [], value) }
        gauge("lifeboat_members", Double(view.members))
        gauge("lifeboat_quorate", view.quorate ? 1 : 0)
        gauge("lifeboat_leader", view.leading ? 1 : 0)
        gauge("lifeboat_synced", view.synced ? 1 : 0)
        gauge("lifeboat_term", Double(view.term))
        for kind in Action.allKinds + ["migrate"] where kind != "notify" {
            gauge("lifeboat_actions_in_flight", [("kind", kind)], Double(view.inFlight[kind] ?? 0))
        }
        for state in ["up", "lost", "fenced", "maintenance", "recovering"] {
            gauge("lifeboat_hosts", [("state", state)], Double(view.hosts[state] ?? 0))
        }
        for state in InstanceState.allCases.map(\.rawValue) {
            gauge("lifeboat_instances", [("state", state)], Double(view.instances[state] ?? 0))
        }
        for (segment, free) in view.reservedFree {
            gauge("lifeboat_reserved_free", [("segment", segment), ("resource", "vcpus")], Double(free.vcpus))
            gauge("lifeboat_reserved_free", [("segment", segment), ("resource", "ram_mb")], Double(free.ramMB))
            gauge("lifeboat_reserved_free", [("segment", segment), ("resource", "disk_gb")], Double(free.diskGB))
        }
        for (segment, n) in view.unprotected { gauge("lifeboat_ha_instances_unprotected", [("segment", segment)], Double(n)) }
        for (segment, n) in view.protected { gauge("lifeboat_ha_instances", [("segment", segment)], Double(n)) }
        gauge("lifeboat_open_incidents", Double(view.openIncidents))
        gauge("lifeboat_rejected_messages", Double(view.rejectedMessages))
        gauge("lifeboat_stale_results", Double(view.staleResults))
        gauge("lifeboat_state_directory_errors", [("part", "state")], view.storeFailing ? 1 : 0)
        gauge("lifeboat_state_directory_errors", [("part", "history")], view.historyFailing ? 1 : 0)
        return registry.emitToString()
    }

    /// What the gauges show, read from the replica on the daemon's actor.
    struct View: Sendable {
        var members = 0
        var quorate = false
        var leading = false
        var synced = false
        var term: UInt64 = 0
        var inFlight: [String: Int] = [:]
        var hosts: [String: Int] = [:]
        var instances: [String: Int] = [:]
        var reservedFree: [String: Capacity] = [:]
        var unprotected: [String: Int] = [:]
        var protected: [String: Int] = [:]
        var openIncidents = 0
        var rejectedMessages = 0
        var staleResults = 0
        /// This node cannot write its state directory (a full disk, an I/O error): it runs
        /// from memory, and a restart would lose what it did not save.
        var storeFailing = false
        var historyFailing = false

        init() {}

        init(_ r: Replica) {
            let s = r.state
            members = r.members.count
            quorate = r.localQuorate && s.quorate
            leading = r.mayAct
            synced = r.synced
            term = s.term
            for rec in s.inFlight.values { inFlight[rec.action.kind, default: 0] += 1 }
            for h in s.hosts.values {
                let state =
                    h.maintenance ? "maintenance" : h.fence.isOff ? "fenced" : (h.recovery.map { !$0.finished } ?? false) ? "recovering"
                    : h.member ? "up" : "lost"
                hosts[state, default: 0] += 1
            }
            for i in s.instances.values {
                instances[i.state.rawValue, default: 0] += 1
                if i.ha || s.policy.evacuateAll, let seg = s.hosts[i.host]?.segment { protected[seg, default: 0] += 1 }
            }
            reservedFree = s.reservedFree()
            unprotected = s.unprotectedHAInstances()
            openIncidents = s.openIncidents.count
            rejectedMessages = r.rejectedMessages
            staleResults = r.staleResults
        }
    }
}
