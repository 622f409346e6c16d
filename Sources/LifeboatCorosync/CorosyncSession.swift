import CCorosync
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One connection to the local corosync: the CPG group and quorum tracking.
///
/// Every libcpg/libquorum call after `init` happens on one dedicated dispatch thread that
/// polls the two library fds and an eventfd; callbacks only collect what they are handed,
/// and what one turn of the loop dispatched is yielded into `events` as one batch, in order
/// (an unbounded stream: a configuration change is never dropped). The daemon applies a
/// batch and then syncs, plans and answers once: under a burst of writes the per-message
/// work shrinks instead of queueing. Sending goes through a
/// queue, because `cpg_mcast_joined` is a blocking IPC round trip. With
/// `qb_ipc_type: socket` a killed corosync gives no poll event, so the thread probes with
/// `cpg_local_get` when idle; `CS_ERR_LIBRARY`/`CS_ERR_BAD_HANDLE` from any call ends the
/// session with `.disconnected`.
public final class CorosyncSession: Sendable {
    /// What each turn of the dispatch loop delivered, in delivery order; never empty.
    public let events: AsyncStream<[CorosyncEvent]>
    public let localNodeID: UInt32
    public let localPID: UInt32
    public let group: String

    private let box: CallbackBox
    private let wakeFD: Int32
    private let outbox = Mutex<Outbox>(Outbox())
    private let handles: Handles

    struct Outbox {
        var messages: [[UInt8]] = []
        var stopping = false
        /// The eventfd is closed: nobody may write to that fd number any more.
        var closed = false
    }

    struct Handles: Sendable {
        let cpg: cpg_handle_t
        let quorum: quorum_handle_t
    }

    /// How long the dispatch thread waits before probing a silent connection.
    static let idleProbeMilliseconds: Int32 = 500

    public init(group: String) throws(CorosyncError) {
        self.group = group
        var continuation: AsyncStream<[CorosyncEvent]>.Continuation!
        events = AsyncStream(bufferingPolicy: .unbounded) { continuation = $0 }
        box = CallbackBox(continuation)
        let context = Unmanaged.passRetained(box).toOpaque()

        var cpg: cpg_handle_t = 0
        var quorum: quorum_handle_t = 0
        var err = lifeboat_cpg_initialize(&cpg, cpgDeliver, cpgConfchg, cpgTotem, context)
        guard err == CS_OK else {
            Unmanaged<CallbackBox>.fromOpaque(context).release()
            throw CorosyncError(err, "cpg_model_initialize")
        }
        err = lifeboat_quorum_initialize(&quorum, quorumNotify, context)
        guard err == CS_OK else {
            cpg_finalize(cpg)
            Unmanaged<CallbackBox>.fromOpaque(context).release()
            throw CorosyncError(err, "quorum_initialize")
        }
        var nodeID: UInt32 = 0
        err = cpg_local_get(cpg, &nodeID)
        if err == CS_OK { err = lifeboat_cpg_join(cpg, group) }
        if err == CS_OK { err = quorum_trackstart(quorum, UInt32(CS_TRACK_CHANGES | CS_TRACK_CURRENT)) }
        guard err == CS_OK else {
            cpg_finalize(cpg)
            quorum_finalize(quorum)
            Unmanaged<CallbackBox>.fromOpaque(context).release()
            throw CorosyncError(err, "cpg_local_get/cpg_join/quorum_trackstart")
        }
        localNodeID = nodeID
        localPID = UInt32(getpid())
        wakeFD = lifeboat_eventfd()
        handles = Handles(cpg: cpg, quorum: quorum)
        let thread = Thread { [self] in self.dispatchLoop() }
        thread.name = "corosync-dispatch"
        thread.start()
    }

    /// Queues a message for agreed-order multicast to the group.
    public func send(_ bytes: [UInt8]) {
        outbox.withLock { $0.messages.append(bytes) }
        wake()
    }

    /// Leaves the group cleanly (peers see `LEAVE`), finalizes, and ends `events`.
    public func stop() {
        outbox.withLock { $0.stopping = true }
        wake()
    }

    private func wake() {
        // Under the lock, so the fd cannot be closed (and its number reused) meanwhile.
        outbox.withLock { o in
            guard !o.closed else { return }
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }
    }

    private func dispatchLoop() {
        var cpgFD: Int32 = -1
        var quorumFD: Int32 = -1
        var ended: CorosyncError? = nil
        if cpg_fd_get(handles.cpg, &cpgFD) != CS_OK || quorum_fd_get(handles.quorum, &quorumFD) != CS_OK {
            ended = CorosyncError(code: Int(CS_ERR_LIBRARY.rawValue), call: "cpg_fd_get")
        }
        while ended == nil {
            var fds = [
                pollfd(fd: cpgFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: quorumFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0),
            ]
            let n = poll(&fds, 3, Self.idleProbeMilliseconds)
            if n < 0 && errno != EINTR { ended = CorosyncError(code: Int(CS_ERR_LIBRARY.rawValue), call: "poll"); break }
            if fds[2].revents != 0 {
                var value: UInt64 = 0
                _ = read(wakeFD, &value, 8)
            }
            let (messages, stopping) = outbox.withLock { o in
                defer { o.messages = [] }
                return (o.messages, o.stopping)
            }
            for m in messages {
                if let e = multicast(m) { ended = e; break }
            }
            if stopping {
                _ = lifeboat_cpg_leave(handles.cpg, group)
                // Let the leave reach corosync before the handle goes away.
                _ = cpg_dispatch(handles.cpg, CS_DISPATCH_ALL)
                break
            }
            if ended != nil { break }
            if (fds[0].revents | fds[1].revents) & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 {
                ended = CorosyncError(code: Int(CS_ERR_LIBRARY.rawValue), call: "poll(cpg or quorum fd)")
                break
            }
            if fds[0].revents & Int16(POLLIN) != 0 {
                let e = cpg_dispatch(handles.cpg, CS_DISPATCH_ALL)
                if e != CS_OK && e != CS_ERR_TRY_AGAIN { ended = CorosyncError(e, "cpg_dispatch"); break }
            }
            if fds[1].revents & Int16(POLLIN) != 0 {
                let e = quorum_dispatch(handles.quorum, CS_DISPATCH_ALL)
                if e != CS_OK && e != CS_ERR_TRY_AGAIN { ended = CorosyncError(e, "quorum_dispatch"); break }
            }
            box.flush()
            if n == 0 {
                var id: UInt32 = 0
                let e = cpg_local_get(handles.cpg, &id)
                if e != CS_OK { ended = CorosyncError(e, "cpg_local_get"); break }
            }
        }
        cpg_finalize(handles.cpg)
        quorum_finalize(handles.quorum)
        outbox.withLock { o in
            o.closed = true
            close(wakeFD)
        }
        if let ended { box.collect(.disconnected(ended)) }
        box.flush()
        box.continuation.finish()
        Unmanaged.passUnretained(box).release()  // the reference the C context held
    }

    /// Sends one message, retrying while corosync applies flow control.
    private func multicast(_ bytes: [UInt8]) -> CorosyncError? {
        for attempt in 0..<200 {
            let e = bytes.withUnsafeBytes { lifeboat_cpg_mcast_agreed(handles.cpg, $0.baseAddress, $0.count) }
            if e == CS_OK { return nil }
            if e == CS_ERR_TRY_AGAIN {
                _ = cpg_dispatch(handles.cpg, CS_DISPATCH_ALL)
                usleep(UInt32(min(50_000, 1_000 * (attempt + 1))))
                continue
            }
            let error = CorosyncError(e, "cpg_mcast_joined")
            if error.isDisconnect { return error }
            // A message corosync refuses (too big) is dropped, not fatal.
            FileHandle.standardError.write(Data("lifeboatd: dropped a message: \(error)\n".utf8))
            return nil
        }
        return CorosyncError(CS_ERR_TRY_AGAIN, "cpg_mcast_joined")
    }
}

/// The context handed to the C callbacks: they cannot capture, so they find this box with
/// `cpg_context_get`/`quorum_context_get`.
final class CallbackBox: Sendable {
    let continuation: AsyncStream<[CorosyncEvent]>.Continuation
    /// Filled by the callbacks during a dispatch call, emptied by `flush` (both on the
    /// dispatch thread; the lock only satisfies Sendable).
    private let pending = Mutex<[CorosyncEvent]>([])
    init(_ c: AsyncStream<[CorosyncEvent]>.Continuation) { continuation = c }

    func collect(_ event: CorosyncEvent) { pending.withLock { $0.append(event) } }

    /// Yields what was collected since the last flush as one batch.
    func flush() {
        let batch = pending.withLock { p in
            defer { p = [] }
            return p
        }
        if !batch.isEmpty { continuation.yield(batch) }
    }
}

private func box(cpg handle: cpg_handle_t) -> CallbackBox? {
    var context: UnsafeMutableRawPointer? = nil
    guard cpg_context_get(handle, &context) == CS_OK, let context else { return nil }
    return Unmanaged<CallbackBox>.fromOpaque(context).takeUnretainedValue()
}

private func members(_ list: UnsafePointer<cpg_address>?, _ count: Int) -> [CPGMember] {
    guard let list else { return [] }
    return (0..<count).map { i in
        CPGMember(nodeID: list[i].nodeid, pid: list[i].pid, reason: CPGMember.Reason(rawValue: list[i].reason) ?? .undefined)
    }
}

private let cpgDeliver: cpg_deliver_fn_t = { handle, _, nodeID, pid, message, length in
    guard let box = box(cpg: handle) else { return }
    let bytes = message.map { Array(UnsafeRawBufferPointer(start: $0, count: length)) } ?? []
    box.collect(.delivered(from: nodeID, pid: pid, bytes: bytes))
}

private let cpgConfchg: cpg_confchg_fn_t = { handle, _, memberList, memberCount, leftList, leftCount, joinedList, joinedCount in
    guard let box = box(cpg: handle) else { return }
    box.collect(
        .configurationChanged(
            members: members(memberList, memberCount), left: members(leftList, leftCount),
            joined: members(joinedList, joinedCount)))
}

private let cpgTotem: cpg_totem_confchg_fn_t = { _, _, _, _ in
    // The totem ring is visible through quorum; CPG's own confchg is what orders messages.
}

private let quorumNotify: quorum_notification_fn_t = { handle, quorate, _, count, list in
    var context: UnsafeRawPointer? = nil
    guard quorum_context_get(handle, &context) == CS_OK, let context else { return }
    let box = Unmanaged<CallbackBox>.fromOpaque(context).takeUnretainedValue()
    let nodes = list.map { l in (0..<Int(count)).map { l[$0] } } ?? []
    box.collect(.quorumChanged(quorate: quorate != 0, members: nodes))
}
