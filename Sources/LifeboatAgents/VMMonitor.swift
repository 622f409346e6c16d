import Foundation
import LifeboatCore
import LifeboatSystem

/// Turns libvirt's lifecycle events on this host into the core's `instance_failed`: a
/// guest that went down (crashed, QEMU killed, shut down from inside) while the cluster
/// holds it active here. A stop someone asked for is not a failure: Nova is asked first,
/// and a server it is stopping, deleting, migrating (a task in progress) or holds stopped
/// is left alone, as is anything the cluster is already recovering. Events, not polling:
/// the failure reaches the leader a few hundred milliseconds after the guest died.
public actor VMMonitor {
    /// One event and what the monitor made of it (for `lifeboat status`).
    public struct Verdict: Sendable {
        public var at: Double
        public var instance: String
        public var event: String
        public var verdict: String
    }

    let events: LibvirtEvents
    let shared: SharedClusterState
    let host: @Sendable () -> String?
    let submit: @Sendable (Event) async -> String?
    /// Why Nova expected the stop (nil: it did not, or there is no Nova to ask).
    let askNova: (@Sendable (String) async -> String?)?
    public private(set) var connected = false
    public private(set) var lastError: String? = nil
    public private(set) var recent: [Verdict] = []

    public init(
        events: LibvirtEvents, shared: SharedClusterState, host: @escaping @Sendable () -> String?,
        submit: @escaping @Sendable (Event) async -> String?, askNova: (@Sendable (String) async -> String?)?
    ) {
        self.events = events
        self.shared = shared
        self.host = host
        self.submit = submit
        self.askNova = askNova
    }

    public nonisolated var uri: String { events.uri }

    /// Runs until the event stream ends.
    public func run() async {
        events.start()
        for await item in events.items { await handle(item) }
    }

    func note(_ v: Verdict) {
        recent.append(v)
        if recent.count > 50 { recent.removeFirst(recent.count - 50) }
    }

    func handle(_ item: LibvirtEvents.Item) async {
        switch item {
        case .connected(let uri):
            connected = true
            lastError = nil
            Log.info("VM monitor: connected to \(uri)")
        case .disconnected(let why):
            connected = false
            lastError = why
            Log.warning("VM monitor: \(why)")
        case .lifecycle(let e):
            guard e.isDown else { return }
            let event = "\(e.kind)"
            guard let state = shared.state, let me = host() else { return }
            guard let inst = state.instances[e.uuid] else {
                return note(Verdict(at: e.at, instance: e.uuid, event: event, verdict: "not an instance the cluster knows"))
            }
            guard inst.host == me, inst.state == .active else {
                return note(Verdict(at: e.at, instance: e.uuid, event: event, verdict: "cluster holds it \(inst.state.rawValue) on \(inst.host): nothing to do"))
            }
            if let askNova, let why = await askNova(e.uuid) {
                return note(Verdict(at: e.at, instance: e.uuid, event: event, verdict: "expected: \(why)"))
            }
            if let why = await submit(.instanceFailed(instance: e.uuid)) {
                Log.warning("VM monitor: \(e.uuid) went down (\(event)), but instance_failed was not recorded: \(why)")
                note(Verdict(at: e.at, instance: e.uuid, event: event, verdict: "failure not recorded: \(why)"))
            } else {
                Log.warning("VM monitor: \(e.uuid) went down unexpectedly (\(event)): instance_failed")
                note(Verdict(at: e.at, instance: e.uuid, event: event, verdict: "instance_failed"))
            }
        }
    }
}
