/// The printed forms of a simulation: JSON lines (the contract) and a table for people.
public enum SimulationOutput {
    public static func jsonLines(_ result: Simulator.Result) -> [String] {
        result.lines.map { JSONWriter.write(json($0)) } + [JSONWriter.write(.object([("final", final(result.final))]))]
    }

    public static func json(_ line: Simulator.Line) -> JSONValue {
        switch line {
        case .action(let at, let a):
            return .object([("at", .number(at)), ("action", .string(a.kind))] + subject(a))
        case .result(let at, let a, let outcome):
            return .object(
                [("at", .number(at)), ("result", .string(a.kind))] + subject(a) + [("outcome", .string(outcome.rawValue))])
        case .stale(let at, let a, let outcome):
            return .object(
                [("at", .number(at)), ("result", .string(a.kind))] + subject(a)
                    + [("outcome", .string(outcome.rawValue)), ("stale", .bool(true))])
        case .rejected(let at, let kind, let reason):
            return .object([("at", .number(at)), ("event", .string(kind)), ("rejected", .string(reason))])
        }
    }

    /// The fields that say what an action works on, in a fixed order.
    static func subject(_ a: Action) -> [(String, JSONValue)] {
        switch a {
        case .fence(let h), .forceDown(let h), .disableService(let h), .enableService(let h):
            [("host", .string(h))]
        case .restartProcess(let h, let p): [("host", .string(h)), ("process", .string(p))]
        case .restartInstance(let i, let h): [("instance", .string(i)), ("host", .string(h))]
        case .evacuate(let i, let from, let to), .migrate(let i, let from, let to): [("instance", .string(i)), ("from", .string(from)), ("to", .string(to))]
        case .notify(let n): noticeFields(n)
        }
    }

    static func noticeFields(_ n: Notice) -> [(String, JSONValue)] {
        var f: [(String, JSONValue)] = []
        if let h = n.host { f.append(("host", .string(h))) }
        if let i = n.instance { f.append(("instance", .string(i))) }
        if let s = n.segment { f.append(("segment", .string(s))) }
        f.append(("kind", .string(n.kind.rawValue)))
        f.append(("reason", .string(n.reason)))
        return f
    }

    public static func final(_ s: ClusterState) -> JSONValue {
        let instances: [(String, JSONValue)] = s.instances.keys.sorted().map { id in
            let i = s.instances[id]!
            return (id, .object([("host", .string(i.host)), ("state", .string(i.state.rawValue))]))
        }
        let hosts: [(String, JSONValue)] = s.hosts.keys.sorted().map { name in
            let h = s.hosts[name]!
            return (
                name,
                .object([
                    ("fenced", .bool(h.fence.isOff)), ("service", .string(h.service.rawValue)),
                    ("reserved", .bool(h.reserved)), ("maintenance", .bool(h.maintenance)),
                    ("member", .bool(h.member)),
                ])
            )
        }
        let notifications: [JSONValue] = s.notices.map { r in .object([("at", .number(r.at))] + noticeFields(r.notice)) }
        var fields: [(String, JSONValue)] = [
            ("instances", .object(instances)), ("hosts", .object(hosts)), ("notifications", .array(notifications)),
            ("quorate", .bool(s.quorate)), ("epoch", .number(Double(s.epoch))),
        ]
        // Masakari notifications (scenario events `notification`), only when there are some,
        // so the output of every older scenario stays byte for byte the same.
        if !s.notifications.isEmpty {
            fields.append(("masakari_notifications", .array(s.notifications.map(masakariNotification))))
        }
        return .object(fields)
    }

    static func masakariNotification(_ n: NotificationRecord) -> JSONValue {
        .object([
            ("id", .number(Double(n.identity.serial))), ("uuid", .string(n.identity.uuid)), ("type", .string(n.type.rawValue)),
            ("host", .string(n.hostname)), ("generated_time", .string(n.generatedTime)), ("status", .string(n.status.rawValue)),
            ("message", n.message.map { .string($0) } ?? .null),
        ])
    }

    /// A readable table: one row per line of the trace, then the final state.
    public static func text(_ result: Simulator.Result) -> String {
        var rows: [[String]] = [["AT", "WHAT", "KIND", "SUBJECT", "DETAIL"]]
        for line in result.lines {
            switch line {
            case .action(let at, let a): rows.append([String(at), "action", a.kind, describe(a), detail(a)])
            case .result(let at, let a, let o): rows.append([String(at), "result", a.kind, describe(a), o.rawValue])
            case .stale(let at, let a, let o):
                rows.append([String(at), "stale", a.kind, describe(a), "\(o.rawValue) (an old attempt: changes nothing)"])
            case .rejected(let at, let kind, let reason): rows.append([String(at), "rejected", kind, "", reason])
            }
        }
        var out = table(rows)
        let s = result.final
        out += "\nFinal state (quorate: \(s.quorate ? "yes" : "no"), epoch \(s.epoch))\n"
        var hostRows: [[String]] = [["HOST", "SEGMENT", "MEMBER", "FENCED", "SERVICE", "RESERVED", "MAINTENANCE", "USED/CAPACITY (vCPU RAM_MB DISK_GB)"]]
        for name in s.hostOrder {
            let h = s.hosts[name]!
            hostRows.append([
                name, h.segment, yesNo(h.member), yesNo(h.fence.isOff), h.service.rawValue, yesNo(h.reserved),
                yesNo(h.maintenance),
                "\(h.used.vcpus)/\(h.capacity.vcpus) \(h.used.ramMB)/\(h.capacity.ramMB) \(h.used.diskGB)/\(h.capacity.diskGB)",
            ])
        }
        out += table(hostRows)
        var instRows: [[String]] = [["INSTANCE", "HOST", "STATE", "HA", "PRIORITY"]]
        for id in s.instances.keys.sorted() {
            let i = s.instances[id]!
            instRows.append([id, i.host, i.state.rawValue, yesNo(i.ha), String(i.priority)])
        }
        out += "\n" + table(instRows)
        out += "\nNotifications: \(s.notices.isEmpty ? "none" : "")\n"
        for r in s.notices { out += "  [\(r.at)] \(r.notice.reason)\n" }
        if !s.notifications.isEmpty {
            var rows: [[String]] = [["MASAKARI NOTIFICATION", "TYPE", "HOST", "STATUS", "MESSAGE"]]
            for n in s.notifications { rows.append([String(n.identity.serial), n.type.rawValue, n.hostname, n.status.rawValue, n.message ?? ""]) }
            out += "\n" + table(rows)
        }
        if !result.violations.isEmpty {
            out += "\nINVARIANT VIOLATIONS:\n" + result.violations.map { "  \($0)\n" }.joined()
        }
        return out
    }

    static func describe(_ a: Action) -> String {
        switch a {
        case .evacuate(let i, let from, let to), .migrate(let i, let from, let to): "\(i) \(from) -> \(to)"
        case .restartInstance(let i, let h): "\(i) on \(h)"
        case .restartProcess(let h, let p): "\(p) on \(h)"
        case .notify(let n): n.instance ?? n.host ?? n.segment ?? "cluster"
        default: a.host ?? ""
        }
    }

    static func detail(_ a: Action) -> String {
        if case .notify(let n) = a { return n.reason }
        return ""
    }

    static func yesNo(_ b: Bool) -> String { b ? "yes" : "no" }

    static func table(_ rows: [[String]]) -> String {
        var widths = [Int](repeating: 0, count: rows.map(\.count).max() ?? 0)
        for r in rows { for (n, c) in r.enumerated() where n < r.count - 1 { widths[n] = max(widths[n], c.count) } }
        return rows.map { r in
            r.enumerated().map { n, c in n == r.count - 1 ? c : c + String(repeating: " ", count: widths[n] - c.count) }
                .joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}
