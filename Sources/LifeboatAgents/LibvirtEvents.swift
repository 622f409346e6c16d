import CLibvirt
import Foundation
import LifeboatSystem
import Synchronization

/// Domain lifecycle events from a libvirtd, as Masakari's instance monitor uses them: one
/// connection on a thread of its own running libvirt's event loop, with keepalive, and a
/// new connection whenever libvirtd goes away (restarted, upgraded, crashed).
public final class LibvirtEvents: Sendable {
    public enum Kind: Sendable, Equatable, CustomStringConvertible {
        case started, suspended, resumed, shutdown, crashed
        /// `detail` is libvirt's `virDomainEventStoppedDetailType`.
        case stopped(StoppedDetail)
        case other(Int32)

        public var description: String {
            switch self {
            case .started: "started"
            case .suspended: "suspended"
            case .resumed: "resumed"
            case .shutdown: "shutdown"
            case .crashed: "crashed"
            case .stopped(let d): "stopped (\(d.rawValue))"
            case .other(let n): "event \(n)"
            }
        }
    }

    public enum StoppedDetail: String, Sendable, Equatable {
        case shutdown, destroyed, crashed, migrated, saved, failed, fromSnapshot = "from_snapshot", unknown
    }

    public struct Lifecycle: Sendable, Equatable {
        /// The domain's UUID (Nova's instance id).
        public var uuid: String
        public var name: String
        public var kind: Kind
        public var at: Double

        /// The guest went down without being asked to by libvirt's own save or migration: a
        /// crash, a killed QEMU, a shutdown inside the guest, or a destroy (which Nova also
        /// does for a stop it was asked for: the monitor tells them apart by asking Nova).
        public var isDown: Bool {
            switch kind {
            case .crashed: true
            case .stopped(let d): [.shutdown, .destroyed, .crashed, .failed, .unknown].contains(d)
            default: false
            }
        }
    }

    public enum Item: Sendable, Equatable {
        case connected(String)
        case disconnected(String)
        case lifecycle(Lifecycle)
    }

    public let uri: String
    public let items: AsyncStream<Item>
    private let continuation: AsyncStream<Item>.Continuation
    private let stopped = Mutex(false)
    /// Set by the close callback (libvirtd went away) to leave the event loop.
    fileprivate let closed = Mutex(false)

    public init(uri: String) {
        self.uri = uri
        (items, continuation) = AsyncStream<Item>.makeStream(bufferingPolicy: .bufferingNewest(4096))
    }

    /// Starts the connection thread (once).
    public func start() {
        Self.setUpEventLoop()
        let t = Thread { [self] in self.run() }
        t.name = "libvirt events"
        t.start()
    }

    public func stop() {
        stopped.withLock { $0 = true }
        continuation.finish()
    }

    fileprivate func emit(_ item: Item) { continuation.yield(item) }

    static let setUp = Mutex(false)
    static func setUpEventLoop() {
        setUp.withLock { done in
            guard !done else { return }
            lifeboat_virt_silence_errors()
            _ = virInitialize()
            _ = virEventRegisterDefaultImpl()
            done = true
        }
    }

    private func run() {
        var lastError = ""
        while !stopped.withLock({ $0 }) {
            guard let conn = virConnectOpen(uri) else {
                let why = String(cString: lifeboat_virt_last_error())
                if why != lastError { emit(.disconnected("cannot connect to \(uri): \(why)")) }
                lastError = why
                Thread.sleep(forTimeInterval: 1)
                continue
            }
            lastError = ""
            closed.withLock { $0 = false }
            let opaque = Unmanaged.passUnretained(self).toOpaque()
            let callback = lifeboat_virt_register_lifecycle(conn, lifecycleCallback, opaque)
            _ = virConnectRegisterCloseCallback(conn, closeCallback, opaque, nil)
            // A libvirtd that hangs is noticed within ~15 s, one that exits at once.
            _ = virConnectSetKeepAlive(conn, 5, 3)
            emit(.connected(uri))
            while !stopped.withLock({ $0 }) && !closed.withLock({ $0 }) && virConnectIsAlive(conn) == 1 {
                if virEventRunDefaultImpl() < 0 { break }
            }
            if callback >= 0 { _ = virConnectDomainEventDeregisterAny(conn, callback) }
            _ = virConnectUnregisterCloseCallback(conn, closeCallback)
            _ = virConnectClose(conn)
            if !stopped.withLock({ $0 }) { emit(.disconnected("libvirtd at \(uri) went away: reconnecting")) }
        }
    }

    static func kind(_ event: Int32, _ detail: Int32) -> Kind {
        switch UInt32(bitPattern: event) {
        case VIR_DOMAIN_EVENT_STARTED.rawValue: return .started
        case VIR_DOMAIN_EVENT_SUSPENDED.rawValue: return .suspended
        case VIR_DOMAIN_EVENT_RESUMED.rawValue: return .resumed
        case VIR_DOMAIN_EVENT_SHUTDOWN.rawValue: return .shutdown
        case VIR_DOMAIN_EVENT_CRASHED.rawValue: return .crashed
        case VIR_DOMAIN_EVENT_STOPPED.rawValue:
            switch UInt32(bitPattern: detail) {
            case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN.rawValue: return .stopped(.shutdown)
            case VIR_DOMAIN_EVENT_STOPPED_DESTROYED.rawValue: return .stopped(.destroyed)
            case VIR_DOMAIN_EVENT_STOPPED_CRASHED.rawValue: return .stopped(.crashed)
            case VIR_DOMAIN_EVENT_STOPPED_MIGRATED.rawValue: return .stopped(.migrated)
            case VIR_DOMAIN_EVENT_STOPPED_SAVED.rawValue: return .stopped(.saved)
            case VIR_DOMAIN_EVENT_STOPPED_FAILED.rawValue: return .stopped(.failed)
            case VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT.rawValue: return .stopped(.fromSnapshot)
            default: return .stopped(.unknown)
            }
        default: return .other(event)
        }
    }
}

private let lifecycleCallback: virConnectDomainEventCallback = { _, dom, event, detail, opaque in
    guard let dom, let opaque else { return 0 }
    let me = Unmanaged<LibvirtEvents>.fromOpaque(opaque).takeUnretainedValue()
    var buf = [CChar](repeating: 0, count: Int(VIR_UUID_STRING_BUFLEN))
    let uuid = virDomainGetUUIDString(dom, &buf) == 0 ? String(cString: buf) : ""
    let name = virDomainGetName(dom).map { String(cString: $0) } ?? ""
    me.emit(.lifecycle(LibvirtEvents.Lifecycle(uuid: uuid, name: name, kind: LibvirtEvents.kind(event, detail), at: Date().timeIntervalSince1970)))
    return 0
}

private let closeCallback: virConnectCloseFunc = { _, _, opaque in
    guard let opaque else { return }
    Unmanaged<LibvirtEvents>.fromOpaque(opaque).takeUnretainedValue().closed.withLock { $0 = true }
}
