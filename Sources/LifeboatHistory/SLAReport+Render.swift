import Foundation
import LifeboatCore

/// The report as JSON (machines), text tables (a terminal) and HTML with charts (a browser).
extension SLAReport {
    public var json: JSONValue {
        func opt(_ d: Double?) -> JSONValue { d.map { .number(($0 * 1000).rounded() / 1000) } ?? .null }
        return .object([
            ("since", .string(HistoryTime.iso(since))), ("until", .string(HistoryTime.iso(until))), ("segment", .optional(segment)),
            ("protected_instances", .int(protectedInstances)), ("availability_percent", .number(percent(availability))),
            (
                "instances",
                .array(
                    instances.map { i in
                        .object([
                            ("instance", .string(i.instance)), ("downtime_s", opt(i.downtime)),
                            ("availability_percent", .number(percent(i.availability))), ("incidents", .array(i.incidents.map { .int($0) })),
                            ("still_down", .bool(i.stillDown)),
                        ])
                    })
            ),
            (
                "kinds",
                .array(
                    kinds.map { k in
                        .object([
                            ("kind", .string(k.kind)), ("count", .int(k.count)),
                            ("outcomes", .object(k.outcomes.keys.sorted().map { ($0, .int(k.outcomes[$0]!)) })),
                            ("mttr_p50_s", opt(k.mttrP50)), ("mttr_p95_s", opt(k.mttrP95)),
                        ])
                    })
            ),
            (
                "hosts",
                .array(
                    hosts.map { h in
                        .object([
                            ("host", .string(h.host)), ("failures", .int(h.failures)),
                            ("by_kind", .object(h.byKind.keys.sorted().map { ($0, .int(h.byKind[$0]!)) })), ("downtime_s", opt(h.downtime)),
                        ])
                    })
            ),
            (
                "needing_operator",
                .array(
                    needingOperator.map { c in
                        .object([("incident", .int(c.incident)), ("kind", .string(c.kind)), ("subject", .string(c.subject)), ("why", .string(c.why))])
                    })
            ),
            (
                "incidents",
                .array(
                    incidents.map { l in
                        .object([
                            ("id", .int(l.id)), ("kind", .string(l.kind)), ("subject", .string(l.subject)),
                            ("opened_at", .string(HistoryTime.iso(l.openedAt))), ("resolved_at", l.resolvedAt.map { .string(HistoryTime.iso($0)) } ?? .null),
                            ("outcome", .optional(l.outcome)), ("summary", .string(l.summary)),
                            (
                                "phases_s",
                                .object([
                                    ("reaction", opt(l.phases.reaction)), ("fence", opt(l.phases.fence)), ("force_down", opt(l.phases.forceDown)),
                                    ("disable", opt(l.phases.disable)), ("all_running_again", opt(l.phases.allBackAfter)),
                                    ("restart_process", opt(l.phases.restartProcess)),
                                ])
                            ),
                        ])
                    })
            ),
        ])
    }

    func percent(_ share: Double) -> Double { (share * 100_000).rounded() / 1000 }

    static func pct(_ share: Double) -> String { String(format: "%.3f %%", share * 100) }
    static func dur(_ d: Double?) -> String { d.map { HistorySentence.duration($0) } ?? "-" }

    // MARK: Text

    public var text: String {
        var out = "SLA report \(HistoryTime.utc(since, milliseconds: false)) → \(HistoryTime.utc(until, milliseconds: false))"
        out += segment.map { ", segment \($0)" } ?? ", all segments"
        out += "\n\nAvailability of the \(protectedInstances) protected instances: \(Self.pct(availability))\n"
        out += "\nDowntime per instance\n"
        out += instances.isEmpty
            ? "  none: no protected instance was down\n"
            : TextTable(
                ["instance", "downtime", "availability", "incidents", ""],
                instances.map { [$0.instance, Self.dur($0.downtime), Self.pct($0.availability), $0.incidents.map(String.init).joined(separator: ","), $0.stillDown ? "still down" : ""] }
            ).render(indent: 2)
        out += "\nFailures by kind (time to recover: opened → resolved)\n"
        out += kinds.isEmpty
            ? "  none\n"
            : TextTable(
                ["kind", "count", "outcomes", "MTTR p50", "MTTR p95"],
                kinds.map { k in
                    [k.kind, "\(k.count)", k.outcomes.keys.sorted().map { "\(k.outcomes[$0]!) \($0)" }.joined(separator: ", "), Self.dur(k.mttrP50), Self.dur(k.mttrP95)]
                }
            ).render(indent: 2)
        out += "\nFailures per host (most first: the hosts that need attention)\n"
        out += hosts.isEmpty
            ? "  none\n"
            : TextTable(
                ["host", "failures", "by kind", "downtime caused"],
                hosts.map { h in [h.host, "\(h.failures)", h.byKind.keys.sorted().map { "\(h.byKind[$0]!) \($0)" }.joined(separator: ", "), Self.dur(h.downtime)] }
            ).render(indent: 2)
        out += "\nRecoveries that needed an operator\n"
        out += needingOperator.isEmpty
            ? "  none\n"
            : TextTable(["incident", "kind", "subject", "why"], needingOperator.map { ["\($0.incident)", $0.kind, $0.subject, $0.why] }).render(indent: 2)
        out += "\nIncidents\n"
        out += incidents.isEmpty
            ? "  none\n"
            : TextTable(
                ["id", "opened (UTC)", "kind", "subject", "outcome", "fenced after", "all running after"],
                incidents.map { l in
                    ["\(l.id)", HistoryTime.utc(l.openedAt, milliseconds: false), l.kind, l.subject, l.outcome ?? "open", Self.dur(l.phases.fencedAfter), Self.dur(l.phases.allBackAfter)]
                }
            ).render(indent: 2)
        return out
    }

    // MARK: HTML

    public var html: String {
        let title = "Lifeboat SLA report \(HistoryTime.utc(since, milliseconds: false)) – \(HistoryTime.utc(until, milliseconds: false))"
        var b = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
            <style>
            body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px; color: #1d2733; }
            h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #d5dbe3; padding-bottom: 0.2em; }
            .big { font-size: 2.4em; font-weight: 600; color: #1f6f43; } .sub { color: #5b6877; }
            table { border-collapse: collapse; width: 100%; font-size: 0.92em; } th, td { text-align: left; padding: 0.35em 0.6em; border-bottom: 1px solid #e6eaf0; }
            th { background: #f3f6f9; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
            .legend span { display: inline-block; margin-right: 1.2em; font-size: 0.85em; } .legend i { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.35em; vertical-align: -0.1em; }
            svg text { font-size: 11px; fill: #33404d; }
            </style></head><body>
            <h1>\(escape(title))</h1>
            <div class="sub">\(escape(segment.map { "Segment \($0)" } ?? "All segments")) · \(incidents.count) incident\(incidents.count == 1 ? "" : "s")</div>
            <p><span class="big">\(Self.pct(availability))</span><br><span class="sub">availability of the \(protectedInstances) protected instances</span></p>

            """
        b += "<h2>Incidents over time</h2>\n" + timelineChart()
        b += "<h2>Stage durations per incident</h2>\n" + stageChart()
        b += "<h2>Downtime per instance</h2>\n"
        b += htmlTable(
            ["instance", "downtime", "availability", "incidents"],
            instances.map { [$0.instance, Self.dur($0.downtime) + ($0.stillDown ? " (still down)" : ""), Self.pct($0.availability), $0.incidents.map(String.init).joined(separator: ", ")] },
            numeric: [1, 2], empty: "No protected instance was down.")
        b += "<h2>Failures by kind</h2>\n"
        b += htmlTable(
            ["kind", "count", "outcomes", "MTTR p50", "MTTR p95"],
            kinds.map { k in [k.kind, "\(k.count)", k.outcomes.keys.sorted().map { "\(k.outcomes[$0]!) \($0)" }.joined(separator: ", "), Self.dur(k.mttrP50), Self.dur(k.mttrP95)] },
            numeric: [1, 3, 4], empty: "No failure.")
        b += "<h2>Failures per host</h2>\n"
        b += htmlTable(
            ["host", "failures", "by kind", "downtime caused"],
            hosts.map { h in [h.host, "\(h.failures)", h.byKind.keys.sorted().map { "\(h.byKind[$0]!) \($0)" }.joined(separator: ", "), Self.dur(h.downtime)] },
            numeric: [1, 3], empty: "No host failed.")
        b += "<h2>Recoveries that needed an operator</h2>\n"
        b += htmlTable(["incident", "kind", "subject", "why"], needingOperator.map { ["\($0.incident)", $0.kind, $0.subject, $0.why] }, numeric: [0], empty: "None.")
        b += "<h2>Incidents</h2>\n"
        b += htmlTable(
            ["id", "opened (UTC)", "kind", "subject", "outcome", "summary"],
            incidents.map { ["\($0.id)", HistoryTime.utc($0.openedAt, milliseconds: false), $0.kind, $0.subject, $0.outcome ?? "open", $0.summary] },
            numeric: [0], empty: "None.")
        b += "</body></html>\n"
        return b
    }

    static let kindColors: [String: String] = [
        "host_lost": "#d9534f", "process_failed": "#f0ad4e", "vm_failed": "#5bc0de", "notification": "#8e6bbf", "storm_guard": "#555f6b",
        "operator": "#2e7dd7",
    ]

    /// One bar per incident on the period's time axis, coloured by kind.
    func timelineChart() -> String {
        let width = 1060.0, left = 200.0, right = 20.0, row = 18.0
        let shown = incidents.suffix(60)
        let height = 40 + Double(max(shown.count, 1)) * row + 20
        let span = max(until - since, 1)
        func x(_ t: Double) -> Double { left + (min(max(t, since), until) - since) / span * (width - left - right) }
        var s = "<svg role=\"img\" aria-label=\"Incidents over time\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\">\n"
        for n in 0...4 {
            let t = since + span * Double(n) / 4
            let xp = x(t)
            s += "<line x1=\"\(f(xp))\" y1=\"24\" x2=\"\(f(xp))\" y2=\"\(f(height - 16))\" stroke=\"#e3e7ec\"/>"
            s += "<text x=\"\(f(xp))\" y=\"14\" text-anchor=\"\(n == 0 ? "start" : n == 4 ? "end" : "middle")\">\(escape(HistoryTime.utc(t, milliseconds: false).prefix(16) + ""))</text>\n"
        }
        if shown.isEmpty { s += "<text x=\"\(f(left))\" y=\"48\">No incident in the period.</text>\n" }
        for (n, l) in shown.enumerated() {
            let y = 30 + Double(n) * row
            let end = l.resolvedAt ?? until
            let x0 = x(l.openedAt), x1 = max(x(end), x0 + 3)
            let color = Self.kindColors[l.kind] ?? "#888"
            s += "<text x=\"\(f(left - 8))\" y=\"\(f(y + 11))\" text-anchor=\"end\">#\(l.id) \(escape(String(l.subject.prefix(24))))</text>"
            s += "<rect x=\"\(f(x0))\" y=\"\(f(y + 2))\" width=\"\(f(x1 - x0))\" height=\"\(f(row - 5))\" rx=\"2\" fill=\"\(color)\"><title>\(escape("#\(l.id) \(l.kind) \(l.subject): \(l.outcome ?? "open")"))</title></rect>\n"
        }
        s += "</svg>\n" + legend(Self.kindColors.keys.sorted().map { ($0, Self.kindColors[$0]!) })
        return s
    }

    static let stageColors: [(String, String)] = [
        ("reaction", "#9aa5b1"), ("fence", "#d9534f"), ("force down + disable", "#f0ad4e"), ("until all running again", "#3c9d5d"),
    ]

    /// Per incident, its phases as stacked bars in seconds: reaction, fence, Nova's
    /// service steps, and the rest until every instance ran again.
    func stageChart() -> String {
        let shown = incidents.filter { $0.phases.reaction != nil || $0.phases.allBackAfter != nil }.suffix(40)
        let width = 1060.0, left = 200.0, right = 60.0, row = 20.0
        let height = 30 + Double(max(shown.count, 1)) * row + 20
        let segments: [[Double]] = shown.map { l in
            let p = l.phases
            let reaction = p.reaction ?? 0
            let fence = p.fence ?? 0
            let service = max(p.forceDown ?? 0, p.disable ?? 0)
            let total = p.allBackAfter ?? (reaction + fence + service)
            return [reaction, fence, service, max(0, total - reaction - fence - service)]
        }
        let maxTotal = max(segments.map { $0.reduce(0, +) }.max() ?? 1, 0.001)
        let scale = (width - left - right) / maxTotal
        var s = "<svg role=\"img\" aria-label=\"Stage durations per incident\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\">\n"
        if shown.isEmpty { s += "<text x=\"\(f(left))\" y=\"30\">No recovery with timed stages in the period.</text>\n" }
        for (n, (l, parts)) in zip(shown, segments).enumerated() {
            let y = 14 + Double(n) * row
            s += "<text x=\"\(f(left - 8))\" y=\"\(f(y + 12))\" text-anchor=\"end\">#\(l.id) \(escape(String(l.subject.prefix(24))))</text>"
            var x = left
            for (k, part) in parts.enumerated() where part > 0 {
                let w = max(part * scale, 1)
                s += "<rect x=\"\(f(x))\" y=\"\(f(y + 2))\" width=\"\(f(w))\" height=\"\(f(row - 6))\" fill=\"\(Self.stageColors[k].1)\"><title>\(escape("\(Self.stageColors[k].0): \(HistorySentence.duration(part))"))</title></rect>"
                x += w
            }
            s += "<text x=\"\(f(x + 6))\" y=\"\(f(y + 12))\">\(escape(HistorySentence.duration(parts.reduce(0, +))))</text>\n"
        }
        s += "</svg>\n" + legend(Self.stageColors)
        return s
    }

    func legend(_ items: [(String, String)]) -> String {
        "<div class=\"legend\">" + items.map { "<span><i style=\"background:\($0.1)\"></i>\(escape($0.0.replacingOccurrences(of: "_", with: " ")))</span>" }.joined() + "</div>\n"
    }

    func htmlTable(_ header: [String], _ rows: [[String]], numeric: Set<Int>, empty: String) -> String {
        guard !rows.isEmpty else { return "<p class=\"sub\">\(escape(empty))</p>\n" }
        var t = "<table><tr>" + header.map { "<th>\(escape($0))</th>" }.joined() + "</tr>\n"
        for r in rows {
            t += "<tr>" + r.enumerated().map { n, c in "<td\(numeric.contains(n) ? " class=\"num\"" : "")>\(escape(c))</td>" }.joined() + "</tr>\n"
        }
        return t + "</table>\n"
    }

    func f(_ d: Double) -> String { String(format: "%.1f", d) }

    func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }
}

/// A plain text table: columns as wide as their widest cell.
public struct TextTable {
    public var header: [String]
    public var rows: [[String]]
    public init(_ header: [String], _ rows: [[String]]) {
        self.header = header
        self.rows = rows
    }

    public func render(indent: Int = 0) -> String {
        let all = [header] + rows
        let columns = header.count
        var widths = Array(repeating: 0, count: columns)
        for r in all { for (n, c) in r.enumerated() where n < columns { widths[n] = max(widths[n], c.count) } }
        let pad = String(repeating: " ", count: indent)
        func line(_ r: [String]) -> String {
            var s = pad
            for n in 0..<columns {
                let c = n < r.count ? r[n] : ""
                s += n == columns - 1 ? c : c.padding(toLength: widths[n], withPad: " ", startingAt: 0) + "  "
            }
            while s.hasSuffix(" ") { s.removeLast() }
            return s
        }
        var out = line(header) + "\n"
        out += pad + widths.enumerated().map { n, w in String(repeating: "-", count: n == columns - 1 ? max(w, 1) : w) }.joined(separator: "  ") + "\n"
        for r in rows { out += line(r) + "\n" }
        return out
    }
}
