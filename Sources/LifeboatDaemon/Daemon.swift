import Foundation
import LifeboatCore
import LifeboatCorosync
import LifeboatReplication

/// The shell around the replicated core: one actor that owns the Corosync session, feeds
/// the `Replica`, carries out its outputs (multicast, persist, answers), runs the leader's
/// plan through the executors, and answers the control socket.
public actor Daemon {
    let configuration: DaemonConfiguration
    let store: ConfigurationStore
    let executors: [any ActionExecutor]
    var saved: (ClusterConfiguration, UInt64)
    var session: CorosyncSession? = nil
    var replica: Replica? = nil
    var stopping = false
    var nextRequest: UInt64 = 1
    var waiting: [UInt64: CheckedContinuation<String?, Never>] = [:]
    /// Notices this leader multicast and has not seen applied yet (no duplicates).
    var noticesSent: Set<String> = []
    /// Actions this leader recorded as started and hands to an executor once applied.
    var startsSent: [String: Action] = [:]
    var running: Set<String> = []
    var reportedWithoutExecutor: Set<String> = []

    public init(configuration: DaemonConfiguration, executors: [any ActionExecutor] = []) throws {
        self.configuration = configuration
        self.executors = executors
        store = ConfigurationStore(directory: configuration.stateDirectory)
        if let s = try store.load() {
            saved = s
            Log.info("loaded configuration version \(s.1) from \(store.path)")
        } else if let bootstrap = configuration.bootstrapCluster {
            let text = try String(contentsOfFile: bootstrap, encoding: .utf8)
            saved = (try ClusterConfiguration.parse(try JSONParser.parse(text)), 0)
            Log.info("no saved configuration; starting from \(bootstrap)")
        } else {
            saved = (ClusterConfiguration(), 0)
            Log.info("no saved configuration; starting empty (lifeboat config apply FILE)")
        }
    }

    /// Runs until `shutdown()` (exit status 0) or until Corosync is lost for good (1).
    public func run() async -> Int32 {
        while !stopping {
            guard let s = await connect() else { return stopping ? 0 : 1 }
            session = s
            if replica?.nodeID != s.localNodeID {
                // First connection, or corosync came back with another node id for us.
                if let r = replica { saved = (r.state.configuration, r.state.configVersion) }
                replica = Replica(nodeID: s.localNodeID, configuration: saved.0, configVersion: saved.1)
                Log.setPrefix("lifeboatd[\(s.localNodeID)]")
            }
            Log.info("joined CPG group '\(configuration.group)' as node \(s.localNodeID), pid \(s.localPID)")
            for await event in s.events { handle(event) }
            session = nil
            // Not a member of anything now: no leader, no quorum, state not authoritative.
            replica?.connectionLost()
            startsSent = [:]
            noticesSent = []
            failWaiting("the connection to corosync was lost")
            if stopping { break }
            if configuration.onCorosyncLoss == .exit {
                Log.error("corosync connection lost; exiting (on_corosync_loss: exit)")
                return 1
            }
            Log.warning("corosync connection lost; reconnecting for up to \(Int(configuration.reconnectTimeout)) s")
        }
        return 0
    }

    public func shutdown() {
        guard !stopping else { return }
        stopping = true
        Log.info("shutting down: leaving the CPG group")
        if let session { session.stop() }
    }

    func connect() async -> CorosyncSession? {
        let deadline = Date().addingTimeInterval(configuration.reconnectTimeout)
        var lastError = ""
        repeat {
            if stopping { return nil }
            // The libraries block while corosync is busy: connect off the actor, so that the
            // control socket and SIGTERM are still served meanwhile.
            let group = configuration.group
            let attempt = await Task.detached { () -> Result<CorosyncSession, CorosyncError> in
                Result { () throws(CorosyncError) in try CorosyncSession(group: group) }
            }.value
            switch attempt {
            case .success(let s):
                if stopping { s.stop(); return nil }
                return s
            case .failure(let error):
                if lastError != error.description { Log.warning("cannot connect to corosync: \(error)") }
                lastError = error.description
            }
            try? await Task.sleep(for: .milliseconds(500))
        } while Date() < deadline
        Log.error("corosync unreachable for \(Int(configuration.reconnectTimeout)) s: giving up")
        return nil
    }

    // MARK: Inputs

    func handle(_ event: CorosyncEvent) {
        guard var r = replica else { return }
        let now = Date().timeIntervalSince1970
        var outputs: [Replica.Output]
        switch event {
        case .configurationChanged(let members, let left, let joined):
            Log.info("membership: \(members.map(\.nodeID)) left: \(left.map { "\($0.nodeID)/\($0.reason)" }) joined: \(joined.map(\.nodeID))")
            outputs = r.configurationChanged(
                members: members.map(\.nodeID), left: left.map { ($0.nodeID, $0.reason == .nodeDown) },
                joined: joined.map(\.nodeID), now: now)
        case .delivered(let from, _, let bytes):
            outputs = r.delivered(from: from, bytes: bytes, now: now)
        case .quorumChanged(let quorate, let members):
            Log.info("quorum: \(quorate ? "quorate" : "NOT quorate"), corosync members \(members)")
            outputs = r.localQuorumChanged(quorate, members: members, now: now)
        case .disconnected(let error):
            Log.error("corosync: \(error)")
            outputs = []
        }
        replica = r
        perform(outputs)
        leaderStep()
    }

    func perform(_ outputs: [Replica.Output]) {
        for o in outputs {
            switch o {
            case .send(let m): session?.send(m.encoded())
            case .persist(let c, let version):
                guard saved.0 != c || saved.1 != version else { continue }
                do {
                    try store.save(c, version: version)
                    saved = (c, version)
                } catch { Log.error("cannot save configuration: \(error)") }
            case .requestDone(let id, let rejected):
                waiting.removeValue(forKey: id)?.resume(returning: rejected)
            case .log(let line): Log.info(line)
            }
        }
    }

    /// The leader records what it starts before it starts it; executors run only once the
    /// start is applied (so every member knows it is in flight).
    func leaderStep() {
        guard let r = replica, r.isLeader else {
            // Not leading (any more): what this node had under way is a new leader's now.
            startsSent = [:]
            noticesSent = []
            return
        }
        noticesSent = noticesSent.filter { !r.state.noticeKeys.contains($0) }
        for (key, action) in startsSent where r.state.inFlight[key] != nil && !running.contains(key) {
            startsSent.removeValue(forKey: key)
            running.insert(key)
            guard let executor = executors.first(where: { $0.kinds.contains(action.kind) }) else { continue }
            Task {
                let outcome = await executor.execute(action)
                self.finished(action, outcome)
            }
        }
        for action in r.plan() {
            switch action {
            case .notify(let n):
                guard !noticesSent.contains(n.key) else { continue }
                noticesSent.insert(n.key)
                Log.warning("NOTICE: \(n.reason)")
                send(.actionStarted(action))
            default:
                guard startsSent[action.key] == nil, !running.contains(action.key) else { continue }
                if executors.contains(where: { $0.kinds.contains(action.kind) }) {
                    startsSent[action.key] = action
                    send(.actionStarted(action))
                } else if reportedWithoutExecutor.insert(action.key).inserted {
                    Log.warning("leader decided \(action.key), but no \(action.kind) executor is configured on this build yet: it waits")
                }
            }
        }
    }

    func finished(_ action: Action, _ outcome: Outcome) {
        running.remove(action.key)
        send(.actionFinished(key: action.key, outcome: outcome))
    }

    func send(_ event: Event, request: UInt64? = nil) {
        let at = Date().timeIntervalSince1970
        session?.send(WireMessage(.event(event, at: at, request: request)).encoded())
    }

    func failWaiting(_ why: String) {
        for (_, c) in waiting { c.resume(returning: why) }
        waiting = [:]
    }

    /// Multicasts an operator's event and waits until it comes back applied (or refused).
    func submit(_ event: Event) async -> String? {
        guard session != nil else { return "not connected to corosync" }
        let id = nextRequest
        nextRequest += 1
        send(event, request: id)
        Task {
            try? await Task.sleep(for: .seconds(10))
            self.timeout(id)
        }
        return await withCheckedContinuation { waiting[id] = $0 }
    }

    func timeout(_ id: UInt64) {
        waiting.removeValue(forKey: id)?.resume(returning: "timed out waiting for the cluster to apply the change")
    }

    // MARK: Control socket

    public func handleRequest(_ request: JSONValue) async -> JSONValue {
        guard case .string(let cmd) = request["cmd"] ?? .null else { return ControlServer.error("request needs a \"cmd\"") }
        guard let r = replica else { return ControlServer.error("not connected to corosync yet") }
        switch cmd {
        case "status":
            return .object([("ok", .bool(true)), ("status", status(r))])
        case "config":
            return .object([
                ("ok", .bool(true)), ("version", .number(Double(r.state.configVersion))), ("cluster", r.state.configuration.json),
            ])
        case "history":
            var limit = 50
            if case .number(let n) = request["limit"] ?? .null { limit = Int(max(0, min(n, Double(Replica.historyLimit)))) }
            let entries: [JSONValue] = r.history.suffix(limit).map { h in
                var f: [(String, JSONValue)] = [
                    ("epoch", .number(Double(h.epoch))), ("at", .number(h.at)), ("origin", .number(Double(h.origin))),
                    ("event", .string(h.event)),
                ]
                if let why = h.rejected { f.append(("rejected", .string(why))) }
                return .object(f)
            }
            let notices: [JSONValue] = r.state.notices.map { n in
                .object([("at", .number(n.at)), ("kind", .string(n.notice.kind.rawValue)), ("reason", .string(n.notice.reason))])
            }
            return .object([("ok", .bool(true)), ("history", .array(entries)), ("notices", .array(notices))])
        case "event":
            let event: Event
            do { event = try Scenario.parseCommandEvent(request["event"] ?? .null, state: r.state) } catch {
                return ControlServer.error("invalid event: \(error)")
            }
            // Membership, quorum and monitor results come from Corosync and the monitors,
            // never from the socket.
            guard Self.operatorEventKinds.contains(event.kind) else {
                return ControlServer.error(
                    "'\(event.kind)' is not an operator command (one of: \(Self.operatorEventKinds.sorted().joined(separator: ", ")))")
            }
            return answer(await submit(event))
        case "configure":
            let c: ClusterConfiguration
            do { c = try ClusterConfiguration.parse(request["cluster"] ?? .null) } catch {
                return ControlServer.error("invalid configuration: \(error)")
            }
            return answer(await submit(.configure(c)))
        default:
            return ControlServer.error("unknown command '\(cmd)' (status, config, history, event, configure)")
        }
    }

    static let operatorEventKinds: Set<String> = [
        "maintenance", "fence_confirmed_by_operator", "segment_enabled", "reserved", "ha", "storm_reset",
    ]

    func answer(_ rejected: String?) -> JSONValue {
        if let rejected { return ControlServer.error(rejected) }
        return .object([
            ("ok", .bool(true)), ("epoch", .number(Double(replica?.state.epoch ?? 0))),
            ("config_version", .number(Double(replica?.state.configVersion ?? 0))),
        ])
    }

    func status(_ r: Replica) -> JSONValue {
        let s = r.state
        func name(_ id: UInt32) -> String { s.hostName(nodeID: id) ?? "node-\(id)" }
        let leader = r.effectiveLeader
        let hosts: [JSONValue] = s.hostOrder.map { hn in
            let h = s.hosts[hn]!
            let running = r.members.contains(h.nodeID)
            let role = h.nodeID == leader ? "leader" : running ? "member" : h.member ? "no-lifeboatd" : "offline"
            var recovery: JSONValue = .null
            if let rec = h.recovery {
                let phase = rec.finished ? "finished" : h.fence.isOff ? "evacuating" : h.fence == .failed ? "fence_failed" : rec.startedAt == nil ? "queued" : "fencing"
                recovery = .object([("cause", .string(rec.cause.rawValue)), ("phase", .string(phase))])
            }
            return .object([
                ("name", .string(hn)), ("node_id", .number(Double(h.nodeID))), ("segment", .string(h.segment)),
                ("role", .string(role)), ("member", .bool(h.member)), ("maintenance", .bool(h.maintenance)),
                ("reserved", .bool(h.reserved)), ("fenced", .bool(h.fence.isOff)), ("service", .string(h.service.rawValue)),
                ("recovery", recovery),
            ])
        }
        return .object([
            ("node", .string(name(r.nodeID))), ("node_id", .number(Double(r.nodeID))),
            ("members", .array(r.members.map { .string(name($0)) })),
            ("member_ids", .array(r.members.map { .number(Double($0)) })),
            ("quorate", .bool(r.localQuorate)), ("leader", leader.map { .string(name($0)) } ?? .null),
            ("epoch", .number(Double(s.epoch))), ("config_version", .number(Double(s.configVersion))),
            ("synced", .bool(r.synced)), ("connected", .bool(session != nil)),
            ("hosts", .array(hosts)), ("instances", .number(Double(s.instances.count))),
            ("in_flight", .array(s.inFlight.keys.sorted().map { .string($0) })),
            ("waiting_for_executor", .array(reportedWithoutExecutor.sorted().filter { s.inFlight[$0] == nil }.map { .string($0) })),
            ("notices", .number(Double(s.notices.count))), ("rejected_messages", .number(Double(r.rejectedMessages))),
        ])
    }
}
