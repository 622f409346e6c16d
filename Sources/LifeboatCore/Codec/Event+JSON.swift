/// The one dialect of events: scenario files, the operator's commands, the wire and the
/// files on disk all write an event as `{"kind": "node_lost", "host": "h1"}`. Scenario
/// files and commands are read against the names they may use (`EventNames`); the wire
/// and the disk are not (a peer's message names what its state has, and `apply` checks
/// it), and only they may carry the leader's own records.

/// The names an event read from a file or a command may use.
public struct EventNames: Sendable {
    public var hosts: Set<String>
    public var instances: Set<String>
    public var segments: Set<String>
    public init(hosts: Set<String>, instances: Set<String>, segments: Set<String>) {
        self.hosts = hosts
        self.instances = instances
        self.segments = segments
    }
}

extension Event {
    public var json: JSONValue {
        var f: [(String, JSONValue)] = [("kind", .string(kind))]
        switch self {
        case .nodeLost(let h), .nodeJoined(let h), .nodeUnseen(let h), .fenceConfirmedByOperator(let h), .fenceRequested(let h):
            f.append(("host", .string(h)))
        case .quorum(let q): f.append(("quorate", .bool(q)))
        case .processFailed(let h, let p), .processRecovered(let h, let p):
            f += [("host", .string(h)), ("process", .string(p))]
        case .instanceFailed(let i): f.append(("instance", .string(i)))
        case .resourceBlocked(let h, let p, let why): f += [("host", .string(h)), ("process", .string(p)), ("reason", .string(why))]
        case .resourceCleanup(let h, let p), .resourceRestart(let h, let p): f += [("host", .string(h)), ("process", .string(p))]
        case .maintenance(let h, let on), .reserved(let h, let on), .drain(let h, let on): f += [("host", .string(h)), ("on", .bool(on))]
        case .segmentMaintenance(let s, let on): f += [("segment", .string(s)), ("on", .bool(on))]
        case .haTag(let i, let tag): f += [("instance", .string(i)), ("tag", .string(tag.rawValue))]
        case .haRuleSaved(let rule): f.append(("rule", rule.json))
        case .haRuleRemoved(let name): f.append(("name", .string(name)))
        case .segmentEnabled(let s, let on): f += [("segment", .string(s)), ("on", .bool(on))]
        case .stormReset(let s): f.append(("segment", .string(s)))
        case .configure(let c): f.append(("cluster", c.json))
        case .segmentSaved(let seg):
            f.append(("segment", .object([("name", .string(seg.name)), ("recovery_method", .string(seg.recoveryMethod.rawValue)), ("enabled", .bool(seg.enabled))] + seg.masakariFields)))
        case .segmentRemoved(let uuid), .hostRemoved(let uuid): f.append(("uuid", .string(uuid)))
        case .hostSaved(let reg): f.append(("host", reg.json))
        case .notificationReceived(let n): f.append(("notification", n.json))
        case .inventory(let changes): f.append(("changes", .array(changes.map(\.json))))
        case .leaderChanged(let h): f += [("node", .uint(h.node)), ("incarnation", .uint(h.incarnation))]
        case .clock: break
        case .actionStarted(let a, let term): f += [("action", a.json), ("term", .uint(term))]
        case .actionFinished(let key, let attempt, let report):
            f += [("key", .string(key)), ("attempt", attempt.json), ("report", report.json)]
        case .consoleCaptured(let attempt, let console):
            f += [("attempt", attempt.json), ("console", console.json)]
        }
        return .object(f)
    }

    /// Reads an event from the wire or from disk (no name checks; leader records allowed).
    public static func decode(_ v: JSONValue, at path: String) throws(ScenarioError) -> Event {
        var r = try ObjectReader(v, at: path)
        let e = try read(&r, names: nil)
        try r.finish()
        return e
    }

    /// The fields of one event, `kind` first. With `names`, the event comes from a person
    /// (a scenario, a command): names are checked and the leader's records are refused.
    static func read(_ r: inout ObjectReader, names: EventNames?) throws(ScenarioError) -> Event {
        let kind = try r.string("kind")
        func name(_ key: String, _ known: Set<String>?, _ what: String) throws(ScenarioError) -> String {
            let v = try r.string(key)
            if let known, !known.contains(v) { throw ScenarioError(r.sub(key), "unknown \(what) '\(v)'") }
            return v
        }
        func host() throws(ScenarioError) -> String { try name("host", names?.hosts, "host") }
        func instance() throws(ScenarioError) -> String { try name("instance", names?.instances, "instance") }
        func segment() throws(ScenarioError) -> String { try name("segment", names?.segments, "segment") }
        let fromPeople = names != nil
        switch kind {
        case "node_lost": return .nodeLost(host: try host())
        case "node_joined": return .nodeJoined(host: try host())
        case "node_unseen": return .nodeUnseen(host: try host())
        case "quorum": return .quorum(quorate: try r.bool("quorate"))
        case "process_failed": return .processFailed(host: try host(), process: try r.string("process", default: "nova-compute"))
        case "process_recovered":
            return .processRecovered(host: try host(), process: try r.string("process", default: "nova-compute"))
        case "instance_failed": return .instanceFailed(instance: try instance())
        case "resource_blocked":
            return .resourceBlocked(host: try host(), process: try r.string("process"), reason: try r.string("reason"))
        case "resource_cleanup": return .resourceCleanup(host: try host(), process: try r.string("process"))
        case "resource_restart": return .resourceRestart(host: try host(), process: try r.string("process"))
        case "maintenance": return .maintenance(host: try host(), on: try r.bool("on"))
        case "drain": return .drain(host: try host(), on: try r.bool("on"))
        case "segment_maintenance": return .segmentMaintenance(segment: try segment(), on: try r.bool("on"))
        case "fence_confirmed_by_operator": return .fenceConfirmedByOperator(host: try host())
        case "fence_requested": return .fenceRequested(host: try host())
        case "segment_enabled": return .segmentEnabled(segment: try segment(), on: try r.bool("on"))
        case "reserved": return .reserved(host: try host(), on: try r.bool("on"))
        case "ha":
            // `on` (true/false) as people write it; `tag` (on/off/none) as the wire does.
            let i = try instance()
            if let on = r.optional("on") {
                guard case .bool(let b) = on else { throw ScenarioError(r.sub("on"), "expected true or false, found \(on.typeName)") }
                return .haTag(instance: i, on: b)
            }
            return .haTag(instance: i, tag: try r.choice("tag", HATag.self))
        case "ha_rule_saved": return .haRuleSaved(try Scenario.parseHARule(try r.required("rule"), at: r.sub("rule")))
        case "ha_rule_removed": return .haRuleRemoved(name: try r.string("name"))
        case "storm_reset": return .stormReset(segment: try segment())
        case "leader_changed":
            let node = try r.optional("node").map { v throws(ScenarioError) in try ObjectReader.uint64(v, at: r.sub("node")) } ?? 0
            guard node <= UInt64(UInt32.max) else { throw ScenarioError(r.sub("node"), "must be a node id") }
            let inc = try r.optional("incarnation").map { v throws(ScenarioError) in try ObjectReader.uint64(v, at: r.sub("incarnation")) } ?? 0
            return .leaderChanged(holder: TermHolder(node: UInt32(node), incarnation: inc))
        case "configure" where !fromPeople: return .configure(try ClusterConfiguration.parse(try r.required("cluster")))
        case "segment_saved" where !fromPeople:
            let seg = try Scenario.parseSegments([try r.required("segment")])[0]
            return .segmentSaved(seg)
        case "segment_removed" where !fromPeople: return .segmentRemoved(uuid: try r.string("uuid"))
        case "host_saved" where !fromPeople: return .hostSaved(try HostRegistration.decode(try r.required("host"), at: r.sub("host")))
        case "host_removed" where !fromPeople: return .hostRemoved(uuid: try r.string("uuid"))
        case "notification" where fromPeople: return .notificationReceived(try NotificationRecord.readPosted(&r, names: names!))
        case "notification" where !fromPeople:
            return .notificationReceived(try NotificationRecord.decode(try r.required("notification"), at: r.sub("notification")))
        case "inventory" where !fromPeople:
            return .inventory(try r.list("changes") { v, p throws(ScenarioError) in try InventoryChange.decode(v, at: p) })
        case "clock" where !fromPeople: return .clock
        case "action_started" where !fromPeople:
            return .actionStarted(try Action.decode(try r.required("action"), at: r.sub("action")), term: try r.uint64("term"))
        case "action_finished" where !fromPeople:
            return .actionFinished(
                key: try r.string("key"), attempt: try Attempt.decode(try r.required("attempt"), at: r.sub("attempt")),
                report: try ActionReport.decode(try r.required("report"), at: r.sub("report")))
        case "console_captured" where !fromPeople:
            return .consoleCaptured(
                attempt: try Attempt.decode(try r.required("attempt"), at: r.sub("attempt")),
                console: try ConsoleCapture.decode(try r.required("console"), at: r.sub("console")))
        default:
            throw ScenarioError(
                r.sub("kind"), "unknown event kind '\(kind)' (one of: \(Scenario.eventKinds.joined(separator: ", ")))")
        }
    }
}

extension Action {
    public var json: JSONValue {
        var f: [(String, JSONValue)] = [("kind", .string(kind))]
        switch self {
        case .fence(let h), .forceDown(let h), .disableService(let h), .enableService(let h): f.append(("host", .string(h)))
        case .restartProcess(let h, let p): f += [("host", .string(h)), ("process", .string(p))]
        case .restartInstance(let i, let h): f += [("instance", .string(i)), ("host", .string(h))]
        case .evacuate(let i, let from, let to), .migrate(let i, let from, let to):
            f += [("instance", .string(i)), ("from", .string(from)), ("to", .string(to))]
        case .notify(let n): f.append(("notice", n.json))
        }
        return .object(f)
    }

    public static func decode(_ v: JSONValue, at path: String) throws(ScenarioError) -> Action {
        var r = try ObjectReader(v, at: path)
        let a: Action
        switch try r.string("kind") {
        case "fence": a = .fence(host: try r.string("host"))
        case "force_down": a = .forceDown(host: try r.string("host"))
        case "disable_service": a = .disableService(host: try r.string("host"))
        case "enable_service": a = .enableService(host: try r.string("host"))
        case "restart_process": a = .restartProcess(host: try r.string("host"), process: try r.string("process"))
        case "restart_instance": a = .restartInstance(instance: try r.string("instance"), host: try r.string("host"))
        case "evacuate": a = .evacuate(instance: try r.string("instance"), from: try r.string("from"), to: try r.string("to"))
        case "migrate": a = .migrate(instance: try r.string("instance"), from: try r.string("from"), to: try r.string("to"))
        case "notify": a = .notify(try Notice.decode(try r.required("notice"), at: r.sub("notice")))
        case let k: throw ScenarioError(r.sub("kind"), "unknown action kind '\(k)' (one of: \(allKinds.joined(separator: ", ")))")
        }
        try r.finish()
        return a
    }
}

extension Notice {
    public var json: JSONValue {
        var f: [(String, JSONValue)] = [("kind", .string(kind.rawValue)), ("key", .string(key)), ("reason", .string(reason))]
        if let host { f.append(("host", .string(host))) }
        if let instance { f.append(("instance", .string(instance))) }
        if let segment { f.append(("segment", .string(segment))) }
        return .object(f)
    }

    public static func decode(_ v: JSONValue, at path: String) throws(ScenarioError) -> Notice {
        var r = try ObjectReader(v, at: path)
        let n = Notice(
            recordedKey: try r.string("key"), kind: try r.choice("kind", Kind.self), reason: try r.text("reason"),
            host: try r.optionalText("host"), instance: try r.optionalText("instance"), segment: try r.optionalText("segment"))
        try r.finish()
        return n
    }
}

extension RecordedNotice {
    public var json: JSONValue { .object([("at", .number(at)), ("notice", notice.json)]) }

    public static func decode(_ v: JSONValue, at path: String) throws(ScenarioError) -> RecordedNotice {
        var r = try ObjectReader(v, at: path)
        let n = RecordedNotice(at: try r.number("at"), notice: try Notice.decode(try r.required("notice"), at: r.sub("notice")))
        try r.finish()
        return n
    }
}

extension Attempt {
    public var json: JSONValue { .object([("term", .uint(term)), ("id", .uint(id))]) }

    public static func decode(_ v: JSONValue, at path: String) throws(ScenarioError) -> Attempt {
        var r = try ObjectReader(v, at: path)
        let a = Attempt(term: try r.uint64("term"), id: try r.uint64("id"))
        try r.finish()
        return a
    }
}

extension TermHolder {
    public var json: JSONValue { .object([("node", .uint(node)), ("incarnation", .uint(incarnation))]) }

    public static func decode(_ v: JSONValue, at path: String) throws(ScenarioError) -> TermHolder {
        var r = try ObjectReader(v, at: path)
        let h = TermHolder(node: try r.uint32("node"), incarnation: try r.uint64("incarnation"))
        try r.finish()
        return h
    }
}

extension ActionRecord {
    public var json: JSONValue {
        var f: [(String, JSONValue)] = [("action", action.json), ("attempt", attempt.json), ("started_at", .number(startedAt))]
        if let leader { f.append(("leader", .uint(leader))) }
        if let incident { f.append(("incident", .int(incident))) }
        return .object(f)
    }

    public static func decode(_ v: JSONValue, at path: String) throws(ScenarioError) -> ActionRecord {
        var r = try ObjectReader(v, at: path)
        var a = ActionRecord(
            action: try Action.decode(try r.required("action"), at: r.sub("action")),
            attempt: try Attempt.decode(try r.required("attempt"), at: r.sub("attempt")),
            startedAt: try r.number("started_at"),
            leader: try r.optional("leader").map { v throws(ScenarioError) in UInt32(clamping: try ObjectReader.uint64(v, at: r.sub("leader"))) })
        a.incident = try r.optional("incident").map { v throws(ScenarioError) in try ObjectReader.int(v, at: r.sub("incident")) }
        try r.finish()
        return a
    }
}

extension CompletedAction {
    public var json: JSONValue {
        .object([("record", record.json), ("finished_at", .number(finishedAt)), ("report", report.json)])
    }

    public static func decode(_ v: JSONValue, at path: String) throws(ScenarioError) -> CompletedAction {
        var r = try ObjectReader(v, at: path)
        let c = CompletedAction(
            record: try ActionRecord.decode(try r.required("record"), at: r.sub("record")), finishedAt: try r.number("finished_at"),
            report: try ActionReport.decode(try r.required("report"), at: r.sub("report")))
        try r.finish()
        return c
    }
}

extension ActionReport {
    public var json: JSONValue {
        var f: [(String, JSONValue)] = [("outcome", .string(outcome.rawValue))]
        if let message { f.append(("message", .string(message))) }
        if let durationMS { f.append(("duration_ms", .int(durationMS))) }
        if !steps.isEmpty { f.append(("steps", .array(steps.map(\.json)))) }
        if !attributes.isEmpty {
            f.append(("attributes", .object(attributes.keys.sorted().map { ($0, .string(attributes[$0]!)) })))
        }
        if let console { f.append(("console", console.json)) }
        return .object(f)
    }

    public static func decode(_ v: JSONValue, at path: String) throws(ScenarioError) -> ActionReport {
        var r = try ObjectReader(v, at: path)
        var report = ActionReport(try r.choice("outcome", Outcome.self))
        report.message = try r.optionalText("message")
        report.durationMS = try r.optionalNumber("duration_ms").map { d throws(ScenarioError) in
            Int(try ObjectReader.uint64(.number(d), at: r.sub("duration_ms")))
        }
        report.steps = try r.list("steps") { v, p throws(ScenarioError) in try StepReport.decode(v, at: p) }
        if let a = r.optional("attributes") {
            let t = try ObjectReader(a, at: r.sub("attributes"))
            for (k, v) in t.members { report.attributes[k] = try ObjectReader.string(v, at: t.sub(k)) }
        }
        if let c = r.optional("console") { report.console = try ConsoleCapture.decode(c, at: r.sub("console")) }
        try r.finish()
        return report
    }
}

extension StepReport {
    public var json: JSONValue {
        var f: [(String, JSONValue)] = [
            ("name", .string(name)), ("outcome", .string(outcome.rawValue)), ("duration_ms", .int(durationMS)),
        ]
        if let error { f.append(("error", .string(error))) }
        return .object(f)
    }

    public static func decode(_ v: JSONValue, at path: String) throws(ScenarioError) -> StepReport {
        var r = try ObjectReader(v, at: path)
        let s = StepReport(
            name: try r.text("name"), outcome: try r.choice("outcome", Outcome.self),
            durationMS: Int(try r.uint64("duration_ms")), error: try r.optionalText("error"))
        try r.finish()
        return s
    }
}

extension ConsoleCapture {
    public var json: JSONValue {
        switch self {
        case .captured(let text): .object([("captured", .string(text))])
        case .unavailable(let why): .object([("unavailable", .string(why))])
        }
    }

    public static func decode(_ v: JSONValue, at path: String) throws(ScenarioError) -> ConsoleCapture {
        var r = try ObjectReader(v, at: path)
        let c: ConsoleCapture
        if let text = try r.optionalText("captured") { c = .captured(text) } else { c = .unavailable(try r.text("unavailable")) }
        try r.finish()
        return c
    }
}

extension InventoryChange {
    public var json: JSONValue {
        var f: [(String, JSONValue)] = [("kind", .string(kind))]
        switch self {
        case .instanceAdded(let i):
            f += [("id", .string(i.id)), ("host", .string(i.host)), ("tag", .string(i.tag.rawValue))]
            if let p = i.project { f.append(("project", .string(p))) }
            f += [("priority", .int(i.priority)), ("flavor", i.flavor.json)]
        case .instanceRemoved(let id): f.append(("id", .string(id)))
        case .instanceMoved(let id, let host): f += [("id", .string(id)), ("host", .string(host))]
        case .instanceResized(let id, let flavor): f += [("id", .string(id)), ("flavor", flavor.json)]
        case .instanceTagged(let id, let tag): f += [("id", .string(id)), ("tag", .string(tag.rawValue))]
        case .hostCapacity(let host, let c): f += [("host", .string(host)), ("capacity", c.json)]
        case .hostFacts(let host, let aggregates, let zone):
            f += [("host", .string(host)), ("aggregates", .strings(aggregates)), ("availability_zone", .optional(zone))]
        }
        return .object(f)
    }

    public static func decode(_ v: JSONValue, at path: String) throws(ScenarioError) -> InventoryChange {
        var r = try ObjectReader(v, at: path)
        let c: InventoryChange
        switch try r.string("kind") {
        case "instance_added":
            let id = try r.string("id"), host = try r.string("host")
            let tag = try r.choice("tag", HATag.self)
            var i = Instance(
                id: id, host: host, ha: tag == .on, priority: try r.int("priority"),
                flavor: try Scenario.parseCapacity(try r.required("flavor"), at: r.sub("flavor")))
            i.tag = tag
            i.project = try r.optionalText("project")
            c = .instanceAdded(i)
        case "instance_removed": c = .instanceRemoved(id: try r.string("id"))
        case "instance_moved": c = .instanceMoved(id: try r.string("id"), host: try r.string("host"))
        case "instance_resized":
            c = .instanceResized(id: try r.string("id"), flavor: try Scenario.parseCapacity(try r.required("flavor"), at: r.sub("flavor")))
        case "instance_tagged": c = .instanceTagged(id: try r.string("id"), tag: try r.choice("tag", HATag.self))
        case "host_facts":
            c = .hostFacts(host: try r.string("host"), aggregates: try r.stringList("aggregates"), availabilityZone: try r.optionalText("availability_zone"))
        case "host_capacity":
            c = .hostCapacity(host: try r.string("host"), capacity: try Scenario.parseCapacity(try r.required("capacity"), at: r.sub("capacity")))
        case let k: throw ScenarioError(r.sub("kind"), "unknown inventory change '\(k)'")
        }
        try r.finish()
        return c
    }
}
