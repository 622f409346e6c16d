import LifeboatCore

/// Small clusters built in code, and a compact form of the trace for assertions:
/// `"fence h1"`, `"=fence h1 off"` (a result), `"evacuate vm1 h1>h4"`, `"notify fence_failed h1"`.
enum Lab {
    static let big = Capacity(vcpus: 16, ramMB: 65536, diskGB: 500)
    static let small = Capacity(vcpus: 2, ramMB: 4096, diskGB: 20)

    /// One segment `s` with hosts h1…hN (the last `reserved` of them reserved) and two HA
    /// instances on h1 (vm1 priority 0, vm2 priority 5) plus a non-HA vm3 on h1.
    static func scenario(
        hosts: Int = 4, reserved: Int = 1, method: RecoveryMethod = .reservedHost, capacity: Capacity = big,
        policy: Policy = Policy(), events: [(Double, Event)], faults: Faults = Faults(), durations: [String: Double] = [:]
    ) -> Scenario {
        let hostList = (1...hosts).map { n in
            Host(name: "h\(n)", segment: "s", nodeID: UInt32(n), reserved: n > hosts - reserved, capacity: capacity)
        }
        let instances = [
            Instance(id: "vm1", host: "h1", ha: true, priority: 0, flavor: small),
            Instance(id: "vm2", host: "h1", ha: true, priority: 5, flavor: small),
            Instance(id: "vm3", host: "h1", ha: false, priority: 0, flavor: small),
        ]
        return Scenario(
            segments: [Segment(name: "s", recoveryMethod: method)], hosts: hostList, instances: instances,
            policy: policy, faults: faults, durations: durations,
            events: events.map { TimedEvent(at: $0.0, $0.1) })
    }

    static func trace(_ r: Simulator.Result) -> [String] {
        r.lines.map { line in
            switch line {
            case .action(_, let a): describe(a)
            case .result(_, let a, let o): "=" + describe(a) + " " + o.rawValue
            case .stale(_, let a, let o): "~" + describe(a) + " " + o.rawValue
            case .rejected(_, let kind, _): "rejected \(kind)"
            }
        }
    }

    static func describe(_ a: Action) -> String {
        switch a {
        case .evacuate(let i, let from, let to): "evacuate \(i) \(from)>\(to)"
        case .restartInstance(let i, _): "restart_instance \(i)"
        case .restartProcess(let h, _): "restart_process \(h)"
        case .notify(let n): "notify \(n.kind.rawValue) \(n.instance ?? n.host ?? n.segment ?? "-")"
        default: "\(a.kind) \(a.host ?? "")"
        }
    }

    /// Actions only (no results), in order.
    static func actions(_ r: Simulator.Result) -> [String] { trace(r).filter { !$0.hasPrefix("=") && !$0.hasPrefix("~") } }

    static func run(_ s: Scenario) -> Simulator.Result { Simulator.run(s) }
}

extension Faults {
    static func with(
        fence: [String: FaultMode] = [:], processRestart: [String: FaultMode] = [:],
        evacuate: [String: FaultMode] = [:], instanceRestart: [String: FaultMode] = [:],
        forceDown: [String: FaultMode] = [:]
    ) -> Faults {
        var f = Faults()
        f.fence = fence
        f.processRestart = processRestart
        f.evacuate = evacuate
        f.instanceRestart = instanceRestart
        f.forceDown = forceDown
        return f
    }
}

extension Policy {
    static func with(_ change: (inout Policy) -> Void) -> Policy {
        var p = Policy()
        change(&p)
        return p
    }
}
