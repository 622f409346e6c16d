/// Resources in the configuration's `cluster.resources` list (scenario format), read with
/// errors that name the field, and written back the same way.
extension Resource {
    public var json: JSONValue {
        var f: [(String, JSONValue)] = [("name", .string(name)), ("agent", .string(agent))]
        if !hosts.isEmpty { f.append(("hosts", .strings(hosts))) }
        if let segment { f.append(("segment", .string(segment))) }
        f.append(("params", .object(params.keys.sorted().map { ($0, .string(params[$0]!)) })))
        f.append(("monitor_interval", .number(monitorInterval)))
        var t: [(String, JSONValue)] = []
        if let startTimeout { t.append(("start", .number(startTimeout))) }
        if let stopTimeout { t.append(("stop", .number(stopTimeout))) }
        if let monitorTimeout { t.append(("monitor", .number(monitorTimeout))) }
        if !t.isEmpty { f.append(("timeouts", .object(t))) }
        if let restartLimit { f.append(("restart_limit", .int(restartLimit))) }
        if let failureTimeout { f.append(("failure_timeout", .number(failureTimeout))) }
        f.append(("on_fail", .string(onFail.rawValue)))
        return .object(f)
    }

    /// `ocf:PROVIDER:TYPE` split, or nil when it is not one (or would leave `resource.d`).
    public static func ocfName(_ agent: String) -> (provider: String, type: String)? {
        let parts = agent.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, parts[0] == "ocf" else { return nil }
        for p in parts[1...] {
            guard !p.isEmpty, p != ".", p != "..", p.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else { return nil }
        }
        return (parts[1], parts[2])
    }

    static func isParameterName(_ s: String) -> Bool {
        !s.isEmpty && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }

    /// The rules `parseResources` applies, for a configuration that came another way.
    static func validate(_ list: [Resource], hosts: Set<String>, segments: Set<String>) throws(ScenarioError) {
        var names = Set<String>()
        for (n, r) in list.enumerated() {
            let path = "cluster.resources[\(n)]"
            guard !r.name.isEmpty, names.insert(r.name).inserted else { throw ScenarioError("\(path).name", "duplicate or empty resource name '\(r.name)'") }
            guard ocfName(r.agent) != nil else {
                throw ScenarioError("\(path).agent", "'\(r.agent)' is not an OCF agent name (ocf:PROVIDER:TYPE)")
            }
            for h in r.hosts where !hosts.contains(h) { throw ScenarioError("\(path).hosts", "unknown host '\(h)'") }
            if let s = r.segment, !segments.contains(s) { throw ScenarioError("\(path).segment", "unknown segment '\(s)'") }
            if !r.hosts.isEmpty, r.segment != nil { throw ScenarioError(path, "give hosts or segment, not both") }
            for k in r.params.keys where !isParameterName(k) {
                throw ScenarioError("\(path).params", "'\(k)' is not a parameter name (letters, digits, _)")
            }
            guard r.monitorInterval > 0, r.monitorInterval <= 86400 else {
                throw ScenarioError("\(path).monitor_interval", "must be between 0 and 86400 seconds")
            }
            for (k, t) in [("start", r.startTimeout), ("stop", r.stopTimeout), ("monitor", r.monitorTimeout)] {
                if let t, !(t > 0 && t <= 86400) { throw ScenarioError("\(path).timeouts.\(k)", "must be between 0 and 86400 seconds") }
            }
            if let l = r.restartLimit, l < 0 { throw ScenarioError("\(path).restart_limit", "must not be negative") }
            if let t = r.failureTimeout, t < 0 { throw ScenarioError("\(path).failure_timeout", "must not be negative") }
        }
    }
}

extension Scenario {
    static func parseResources(_ value: JSONValue?, hosts: [Host], segments: [Segment]) throws(ScenarioError) -> [Resource] {
        guard let value else { return [] }
        guard case .array(let items) = value else { throw ScenarioError("cluster.resources", "must be a list") }
        var out: [Resource] = []
        for (n, item) in items.enumerated() {
            var r = try ObjectReader(item, at: "cluster.resources[\(n)]")
            var res = Resource(name: try r.string("name"), agent: try r.string("agent"))
            if r.optional("hosts") != nil { res.hosts = try r.stringList("hosts") }
            res.segment = try r.optionalText("segment")
            if let p = r.optional("params") {
                let params = try ObjectReader(p, at: r.sub("params"))
                for (k, v) in params.members {
                    switch v {
                    case .string(let s): res.params[k] = s
                    case .number, .bool: res.params[k] = JSONWriter.write(v)
                    default: throw ScenarioError(params.sub(k), "must be a string, number or boolean")
                    }
                }
            }
            res.monitorInterval = try r.number("monitor_interval", default: res.monitorInterval)
            if let t = r.optional("timeouts") {
                var tr = try ObjectReader(t, at: r.sub("timeouts"))
                res.startTimeout = try tr.optionalNumber("start")
                res.stopTimeout = try tr.optionalNumber("stop")
                res.monitorTimeout = try tr.optionalNumber("monitor")
                try tr.finish()
            }
            if r.optional("restart_limit") != nil { res.restartLimit = try r.int("restart_limit") }
            res.failureTimeout = try r.optionalNumber("failure_timeout")
            if let v = r.optional("on_fail") { res.onFail = try ObjectReader.choice(v, at: r.sub("on_fail"), Resource.OnFail.self) }
            try r.finish()
            out.append(res)
        }
        try Resource.validate(out, hosts: Set(hosts.map(\.name)), segments: Set(segments.map(\.name)))
        return out
    }
}
