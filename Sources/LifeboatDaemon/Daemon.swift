import Foundation
import LifeboatAgents
import LifeboatCore
import LifeboatSystem
import LifeboatCorosync
import LifeboatHistory
import LifeboatOpenStack
import LifeboatReplication
import LifeboatStore

/// The shell around the replicated core: one actor that owns the Corosync session, feeds
/// the `Replica`, carries out its outputs (multicast, persist, answers), lets the
/// `Conductor` turn the plan into starts and executor runs, and answers the control socket.
public actor Daemon {
    let configuration: DaemonConfiguration
    let store: StateStore
    /// Executors by the action kind they handle.
    let executors: [String: any ActionExecutor]
    var seed: Seed
    var session: CorosyncSession? = nil
    var replica: Replica? = nil
    var conductor = Conductor()
    /// This host's share of the leader's actions (`restart_process`).
    var localConductor = LocalConductor()
    var localTasks: [String: Run] = [:]
    /// Runs the resources' monitors of this host.
    let monitor: ResourceMonitor
    var monitoredConfig: UInt64? = nil
    /// libvirt lifecycle events of this host's guests (`vm_monitor`), if configured.
    let vmMonitor: VMMonitor?
    var monitoredHost: String? = nil
    let gate = LeadershipGate()
    /// Executor runs by action key.
    var tasks: [String: Run] = [:]
    var stopping = false
    var nextRequest: UInt64 = 1
    var nextFrame: UInt64 = 1
    var waiting: [UInt64: CheckedContinuation<String?, Never>] = [:]
    /// Group commit of writers' events: one batch travels at a time (`writesInFlight`);
    /// what writers ask meanwhile waits here and leaves as the next batch.
    var outbox: [(item: WireMessage.Stamped, bytes: Int)] = []
    var writesInFlight: Set<UInt64> = []
    /// Requests of this node the cluster answered, told once the log is synced.
    var answers: [(UInt64, String?)] = []
    /// The last error writing the state directory (shown in status), nil while it works.
    var storeError: String? = nil
    /// When the last snapshot failed to be written (nil after one succeeded).
    var snapshotFailedAt: Double? = nil
    /// libquorum notifications held back by `debug.quorum_delay`.
    var delayedQuorum: AsyncStream<(Bool, [UInt32], UInt64)>.Continuation? = nil
    var sessionNumber: UInt64 = 0
    /// systemd: READY sent once, the last STATUS sent, the last watchdog ping.
    var notifiedReady = false
    var notifiedStatus = ""
    var lastWatchdog: Double = 0
    let watchdogInterval = SystemdNotify.watchdogInterval

    /// Node names from corosync's nodelist (cmap), read at each connection.
    var corosyncNames: [UInt32: String] = [:]

    enum Seed {
        case saved(StateStore.Loaded)
        case fresh(ClusterConfiguration, UInt64)
    }

    struct Run {
        var attempt: Attempt
        var task: Task<Void, Never>
        var timedOut = false
    }

    /// The replicated state for executors' threads (updated after every input).
    public nonisolated let shared: SharedClusterState

    /// The durable history (`STATE_DIR/history.sqlite`), and how far it is written.
    var history: HistoryDatabase?
    /// When opening the history was last tried.
    var historyOpenedAt: Double = 0
    var historyError: String? = nil
    var historyReconcile = true
    var historyStoredThrough: Int? = nil
    var historyInsertedSincePrune = 0
    var historyRequestedAt: Double? = nil
    /// The retention settings the history was last pruned with.
    var historyRetentionApplied = ""

    /// Prometheus metrics, fed from the history entries as they are applied.
    let metrics = DaemonMetrics()
    var metricsSeenThrough: Int? = nil

    /// The OpenStack cloud, when configured (inventory, `lifeboat ha` writes).
    let cloud: CloudConnection?
    var inventory = InventoryStatus()

    struct InventoryStatus {
        var running = false
        var last: Double? = nil
        var lastOK: Double? = nil
        var error: String? = nil
    }

    public init(
        configuration: DaemonConfiguration, executors: [any ActionExecutor] = [], shared: SharedClusterState = SharedClusterState(),
        cloud: CloudConnection? = nil
    ) throws {
        self.configuration = configuration
        self.shared = shared
        self.cloud = cloud
        var byKind: [String: any ActionExecutor] = [:]
        let metadata = MetadataCache()
        let host: @Sendable () -> String? = { [shared] in
            guard let s = shared.state, let n = shared.node else { return nil }
            return s.hostName(nodeID: n)
        }
        let resources = ResourceExecutor(ocfRoot: configuration.ocfRoot, shared: shared, metadata: metadata, host: host)
        for e in [resources] + executors { for k in e.kinds { byKind[k] = e } }
        self.executors = byKind
        let submitter = Submitter()
        monitor = ResourceMonitor(
            ocfRoot: configuration.ocfRoot, shared: shared, metadata: metadata, host: host,
            submit: { event in await submitter.submit(event) })
        if let uri = configuration.vmMonitorURI {
            var ask: (@Sendable (String) async -> String?)? = nil
            if let cloud {
                ask = { (id: String) async -> String? in await Daemon.expectedStop(id, cloud: cloud) }
            }
            vmMonitor = VMMonitor(
                events: LibvirtEvents(uri: uri), shared: shared, host: host,
                submit: { event in await submitter.submit(event) }, askNova: ask)
        } else {
            vmMonitor = nil
        }
        store = StateStore(directory: configuration.stateDirectory)
        (history, historyError) = Self.openHistory(directory: configuration.stateDirectory)
        historyOpenedAt = Date().timeIntervalSince1970 + configuration.debugClockOffset
        if let loaded = try store.load() {
            for n in loaded.notes { n.hasPrefix("ERROR") ? Log.error(n) : Log.info(n) }
            seed = .saved(loaded)
        } else if let legacy = try store.legacyConfiguration() {
            Log.info("migrating configuration version \(legacy.1) from \(store.legacyConfigPath)")
            seed = .fresh(legacy.0, legacy.1)
        } else if let bootstrap = configuration.bootstrapCluster {
            let text = try String(contentsOfFile: bootstrap, encoding: .utf8)
            seed = .fresh(try ClusterConfiguration.parse(try JSONParser.parse(text)), 0)
            Log.info("no saved state; starting from \(bootstrap)")
        } else {
            seed = .fresh(ClusterConfiguration(), 0)
            Log.info("no saved state; starting empty (lifeboat config apply FILE)")
        }
        submitter.daemon = self
    }

    /// Lets the monitor reach the daemon it belongs to, once the daemon exists.
    final class Submitter: @unchecked Sendable {
        weak var daemon: Daemon?

        /// nil once applied; else why not.
        func submit(_ event: Event) async -> String? {
            guard let daemon else { return "lifeboatd is stopping" }
            return await daemon.submit(event)
        }
    }

    /// An event from an executor (a console capture): multicast like the leader's records.
    func post(_ event: Event) { send(event) }

    /// This node's wall clock (with the test-only offset).
    nonisolated func now() -> Double { Date().timeIntervalSince1970 + configuration.debugClockOffset }

    /// Runs until `shutdown()` (exit status 0) or until Corosync is lost for good (1).
    public func run() async -> Int32 {
        let ticker = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(500))
                await self?.tick()
            }
        }
        defer { ticker.cancel() }
        if configuration.debugQuorumDelay > 0 { startQuorumDelay() }
        shared.setSink { [weak self] event in await self?.post(event) }
        if let vmMonitor { Task.detached { await vmMonitor.run() } }
        while !stopping {
            guard let s = await connect() else { return stopping ? 0 : 1 }
            session = s
            sessionNumber += 1
            do { corosyncNames = try CorosyncNodeNames.read() } catch { Log.warning("cannot read corosync's node names: \(error)") }
            do { gate.setProbe(try QuorumProbe()) } catch { Log.warning("quorum probe: \(error)") }
            makeReplica(nodeID: s.localNodeID, pid: s.localPID)
            Log.info("joined CPG group '\(configuration.group)' as node \(s.localNodeID), pid \(s.localPID)")
            if !notifiedReady {
                notifiedReady = true
                SystemdNotify.send("READY=1\nSTATUS=joined the cluster as \(nodeName(s.localNodeID))")
            }
            for await batch in s.events {
                for event in batch { handle(event) }
                afterInput()
            }
            session = nil
            gate.setProbe(nil)
            // Not a member of anything now: no leader, no quorum, state not authoritative.
            replica?.connectionLost()
            for d in conductor.connectionLost() { interpret(d) }
            for d in localConductor.connectionLost() { interpretLocal(d) }
            refreshGate()
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

    func makeReplica(nodeID: UInt32, pid: UInt32) {
        if let r = replica, r.nodeID == nodeID { return }
        if let r = replica {
            // corosync came back with another node id for us: keep what we know.
            replica = Replica(nodeID: nodeID, pid: pid, saved: r.state, history: r.history, prunedHistory: r.prunedHistory)
        } else {
            switch seed {
            case .saved(let l):
                replica = Replica(nodeID: nodeID, pid: pid, saved: l.state, history: l.history, prunedHistory: l.prunedHistory)
            case .fresh(let c, let v):
                replica = Replica(nodeID: nodeID, pid: pid, configuration: c, configVersion: v)
                writeSnapshot()
            }
            seed = .fresh(ClusterConfiguration(), 0)  // the loaded state now lives in the replica
        }
        Log.setNode(nodeName(nodeID))
    }

    /// A node by its host name: the configuration's, else corosync's nodelist, else "node N".
    func nodeName(_ id: UInt32) -> String {
        replica?.state.hostName(nodeID: id) ?? corosyncNames[id] ?? "node \(id)"
    }

    /// What the durable history writes next to each entry (node names, segments).
    func recordContext(_ s: ClusterState) -> RecordContext {
        let base = RecordContext.of(s)
        let names = corosyncNames
        return RecordContext(nodeName: { base.nodeName($0) ?? names[$0] }, segmentOf: base.segmentOf)
    }

    public func shutdown() {
        guard !stopping else { return }
        stopping = true
        SystemdNotify.send("STOPPING=1")
        Log.info("shutting down: leaving the CPG group")
        for (_, run) in tasks { run.task.cancel() }
        for (_, run) in localTasks { run.task.cancel() }
        let monitor = monitor
        Task { await monitor.stop() }
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

    /// One input from Corosync; `afterInput` follows once per batch. The replica is
    /// mutated in place (`replica!`), so the state's arrays are not copied per message.
    func handle(_ event: CorosyncEvent) {
        guard replica != nil else { return }
        let now = now()
        var outputs: [Replica.Output] = []
        switch event {
        case .configurationChanged(let members, let left, let joined):
            Log.info("membership: \(members.map(\.nodeID)) left: \(left.map { "\($0.nodeID)/\($0.reason)" }) joined: \(joined.map(\.nodeID))")
            func id(_ m: CPGMember) -> MemberID { MemberID(node: m.nodeID, pid: m.pid) }
            outputs = replica!.configurationChanged(
                members: members.map(id), left: left.map { (id($0), $0.reason == .nodeDown) }, joined: joined.map(id), now: now)
        case .delivered(let from, let pid, let bytes):
            outputs = replica!.delivered(from: MemberID(node: from, pid: pid), bytes: bytes, now: now)
        case .quorumChanged(let quorate, let members):
            if let delayed = delayedQuorum {
                delayed.yield((quorate, members, sessionNumber))
                return
            }
            Log.info("quorum: \(quorate ? "quorate" : "NOT quorate"), corosync members \(members)")
            outputs = replica!.localQuorumChanged(quorate, members: members, now: now)
        case .disconnected(let error):
            Log.error("corosync: \(error)")
        }
        perform(outputs)
    }

    /// `debug.quorum_delay`: handles libquorum notifications that many seconds late, in order.
    func startQuorumDelay() {
        let (stream, continuation) = AsyncStream<(Bool, [UInt32], UInt64)>.makeStream()
        delayedQuorum = continuation
        let delay = configuration.debugQuorumDelay
        Log.warning("debug.quorum_delay: quorum notifications are handled \(delay) s late (test setting)")
        Task { [weak self] in
            for await (q, members, session) in stream {
                try? await Task.sleep(for: .seconds(delay))
                await self?.lateQuorum(q, members, session)
            }
        }
    }

    func lateQuorum(_ quorate: Bool, _ members: [UInt32], _ session: UInt64) {
        guard session == sessionNumber, self.session != nil, replica != nil else { return }
        Log.info("quorum (late by debug.quorum_delay): \(quorate ? "quorate" : "NOT quorate"), corosync members \(members)")
        let outputs = replica!.localQuorumChanged(quorate, members: members, now: now())
        perform(outputs)
        afterInput()
    }

    /// The service manager's view: a watchdog ping from this actor's own loop (a stuck
    /// actor stops them, and systemd restarts the daemon), and a one-line status.
    func notifySystemd() {
        let t = now()
        if let interval = watchdogInterval, t - lastWatchdog >= interval {
            lastWatchdog = t
            SystemdNotify.send("WATCHDOG=1")
        }
        guard notifiedReady else { return }
        let line: String
        if let r = replica {
            let role = r.mayAct ? "leader, acting" : r.leader == r.me ? "leader, \(r.notActingBecause ?? "not acting")" : "member"
            line = "\(role); \(r.localQuorate ? "quorate" : "NOT quorate"); \(r.members.count) members; \(r.state.openIncidents.count) open incidents"
        } else {
            line = "connecting to corosync"
        }
        if line != notifiedStatus {
            notifiedStatus = line
            SystemdNotify.send("STATUS=\(line)")
        }
    }

    func tick() {
        notifySystemd()
        guard session != nil, replica != nil else { return }
        let outputs = replica!.tick(now: now())
        perform(outputs)
        afterInput()
        refreshInventoryIfDue()
        requestMissingHistoryIfDue()
    }

    func perform(_ outputs: [Replica.Output]) {
        for o in outputs {
            switch o {
            case .send(let m): send(m)
            case .persist(.append(let record)):
                storeAttempt { try store.append(record) }
            case .persist(.snapshot):
                writeSnapshot()
                historyReconcile = true  // an adopted state brings its own history window
            case .historyRequested(let member, let range): answerHistory(to: member, range)
            case .historyReceived(let part): receivedHistory(part)
            case .requestDone(let id, let rejected):
                if !localConductor.requestDone(id, rejected: rejected), !conductor.requestDone(id, rejected: rejected) {
                    answers.append((id, rejected))
                }
            case .log(let line): Log.info(line)
            case .warning(let line): Log.warning(line)
            }
        }
    }

    /// Durable before anything acts on it or anyone hears of it: the log is fsynced before
    /// the leader's step and before the writers waiting on this node get their answers.
    /// The durable history (derived from the log, re-derived after a restart from the
    /// window and the peers) and the metrics come last: neither a writer's answer nor the
    /// leader's next step waits for SQLite.
    func afterInput() {
        if let r = replica { shared.update(r.state, node: r.nodeID) }
        storeAttempt { try store.sync() }
        if store.wantsCompaction, snapshotFailedAt.map({ now() - $0 >= Self.snapshotRetryInterval }) ?? true {
            writeSnapshot()
        }
        for (id, rejected) in answers {
            waiting.removeValue(forKey: id)?.resume(returning: rejected)
            writesInFlight.remove(id)
        }
        answers = []
        flushWrites()
        leaderStep()
        localStep()
        historyStep()
        metricsStep()
    }

    func writeSnapshot() {
        guard let r = replica else { return }
        let written = storeAttempt { try store.writeSnapshot(state: r.state, history: r.history, prunedHistory: r.prunedHistory) }
        snapshotFailedAt = written ? nil : now()
        // A snapshot serializes the whole state at once (tens of MB with 10,000
        // notifications kept) and frees it; the allocator keeps those pages, fragmented by
        // what was allocated meanwhile, and each snapshot under load left the daemon's RSS
        // 30 MB higher (Benchmarks/overload --soak). Give them back.
        Memory.trim()
    }

    /// While the state directory fails (a full disk), a whole snapshot is tried this often
    /// at most (not at every input: it serializes the whole state).
    static let snapshotRetryInterval = 2.0

    /// Runs one write of the state directory. A failure is shown in status (`store_error`)
    /// and logged once per distinct error; the node goes on from memory (its peers hold the
    /// same state) and is back to normal once a snapshot is written again.
    @discardableResult
    func storeAttempt(_ body: () throws -> Void) -> Bool {
        do {
            try body()
            // A broken log skips writes until a snapshot is written: not yet back.
            guard store.logBroken == nil else { return true }
            if storeError != nil { Log.info("the state directory is writable again: \(configuration.stateDirectory)") }
            storeError = nil
            return true
        } catch {
            if storeError != "\(error)" { Log.error("cannot save state in \(configuration.stateDirectory): \(error)") }
            storeError = "\(error)"
            return false
        }
    }

    func send(_ message: WireMessage) {
        guard let session else { return }
        for frame in message.frames(id: nextFrame) { session.send(frame) }
        nextFrame += 1
    }

    func send(_ event: Event, request: UInt64? = nil) {
        guard let r = replica else { return }
        send(WireMessage(.event(event, at: r.clusterTime(now()), request: request)))
    }

    func failWaiting(_ why: String) {
        for (_, c) in waiting { c.resume(returning: why) }
        waiting = [:]
        outbox = []
        writesInFlight = []
    }

    /// Multicasts an operator's event and waits until it comes back applied (or refused).
    /// What this node can already tell is refused at once: not connected, not synced, no
    /// quorum here, quorum and membership disagreeing, a message over the size limit.
    public func submit(_ event: Event) async -> String? {
        guard session != nil, let r = replica else { return "not connected to corosync" }
        guard r.synced else { return "this node is still synchronising with the cluster: retry in a moment" }
        if event.requiresQuorum {
            guard r.localQuorate, r.state.quorate else {
                return "no quorum: this node's partition is not quorate; configuration changes and confirmations are refused until quorum returns"
            }
            guard r.membershipAgrees else {
                return "quorum and membership disagree right now (a membership change is being processed): retry in a moment"
            }
        }
        // Back-pressure: writers beyond the bound are told at once instead of queueing
        // without limit behind a slow or stalled ring.
        guard waiting.count < Self.maxPendingWrites else {
            return "busy: \(waiting.count) changes are waiting for the cluster to apply them; retry in a moment"
        }
        let stamped = WireMessage.Stamped(event, at: r.clusterTime(now()), request: nextRequest)
        let size = WireMessage(.event(stamped.event, at: stamped.at, request: stamped.request)).encoded().count
        guard size <= WireMessage.maxMessageBytes else {
            return "this change is \(size) bytes, over the \(WireMessage.maxMessageBytes)-byte limit of one replicated message"
        }
        let id = nextRequest
        nextRequest += 1
        outbox.append((stamped, size))
        flushWrites()
        let bound = 10.0 + Double(size) / 1_000_000  // a large configuration takes longer to go round
        Task {
            try? await Task.sleep(for: .seconds(bound))
            self.timeout(id)
        }
        return await withCheckedContinuation { waiting[id] = $0 }
    }

    /// Writes (operator commands, API writes) multicast and not yet applied, at most.
    public static let maxPendingWrites = 512

    /// A batch's bytes at most (more writers wait for the next one), under one CPG frame.
    static let maxBatchBytes = 192 * 1024

    /// Sends the writers' events that wait, as one message, unless a batch still travels:
    /// a lone writer's event leaves at once; under concurrent writers each multicast
    /// carries what arrived during the previous one's round trip.
    func flushWrites() {
        guard writesInFlight.isEmpty, !outbox.isEmpty, session != nil else { return }
        var count = 0
        var bytes = 0
        for (_, size) in outbox {
            if count > 0, bytes + size > Self.maxBatchBytes { break }
            count += 1
            bytes += size
        }
        let batch = outbox.prefix(count).map(\.item)
        outbox.removeFirst(count)
        writesInFlight = Set(batch.compactMap(\.request))
        send(WireMessage(batch.count == 1 ? .event(batch[0].event, at: batch[0].at, request: batch[0].request) : .events(batch)))
    }

    func timeout(_ id: UInt64) {
        guard let c = waiting.removeValue(forKey: id) else { return }
        c.resume(returning: "timed out waiting for the cluster to apply the change")
        outbox.removeAll { $0.item.request == id }  // never sent: it is not applied either
        writesInFlight.remove(id)
        flushWrites()
    }
}

/// The live inventory: the leader refreshes it from Nova periodically (and the force-down
/// executor refreshes a failed host's right before its evacuations are planned).
extension Daemon {
    func refreshInventoryIfDue() {
        guard let cloud, let settings = configuration.openstack, let r = replica, r.mayAct, !inventory.running else { return }
        let t = now()
        if let last = inventory.last, t - last < settings.inventoryInterval { return }
        inventory.running = true
        inventory.last = t
        let state = r.state
        Task.detached { [weak self] in
            let result: Result<[InventoryChange], OpenStackError>
            do throws(OpenStackError) {
                let nova = try await cloud.nova()
                result = .success(try await NovaInventory(nova: nova).changes(for: state))
            } catch { result = .failure(error) }
            await self?.inventoryDone(result)
        }
    }

    func inventoryDone(_ result: Result<[InventoryChange], OpenStackError>) {
        inventory.running = false
        switch result {
        case .success(let changes):
            if inventory.error != nil { Log.info("Nova answers again: inventory refreshed") }
            inventory.error = nil
            inventory.lastOK = now()
            guard !changes.isEmpty, replica?.mayAct == true else { return }
            Log.info("inventory from Nova: \(changes.count) changes (\(Dictionary(grouping: changes, by: \.kind).map { "\($0.value.count) \($0.key)" }.sorted().joined(separator: ", ")))")
            send(.inventory(changes))
        case .failure(let e):
            if inventory.error != e.description { Log.warning("inventory refresh from Nova failed: \(e)") }
            inventory.error = e.description
        }
    }

    /// Whether Nova expected this server's guest to stop (a stop, delete, migration or
    /// rebuild it is carrying out, or a state it holds stopped); nil: it did not, or Nova
    /// could not say (then the stop counts as a failure: the restart goes through Nova).
    static func expectedStop(_ id: String, cloud: CloudConnection) async -> String? {
        do throws(OpenStackError) {
            let s = try await cloud.nova().server(id)
            if let task = s.taskState, !task.isEmpty { return "Nova is \(task) it" }
            if let vm = s.vmState, !["active", "error"].contains(vm) { return "Nova holds it \(vm)" }
            return nil
        } catch {
            Log.warning("VM monitor: cannot ask Nova about \(id) (\(error)): treating its stop as a failure")
            return nil
        }
    }

    /// `lifeboat ha INSTANCE on|off|default` writes the tag in Nova (where users set it)
    /// first: `HA_Enabled=True`, `HA_Enabled=False` (an explicit opt-out), or no key.
    func writeHATag(_ instance: String, _ tag: HATag) async -> String? {
        guard let cloud else { return nil }
        let value: String? = switch tag {
            case .on: "True"
            case .off: "False"
            case .none: nil
            }
        do throws(OpenStackError) {
            let nova = try await cloud.nova()
            try await nova.setMetadata(instance, key: "HA_Enabled", value: value)
            return nil
        } catch { return "could not write HA_Enabled of \(instance) in Nova: \(error)" }
    }
}
