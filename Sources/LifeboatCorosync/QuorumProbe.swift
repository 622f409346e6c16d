import CCorosync
import Foundation
import Synchronization

/// Asks the local corosync, synchronously, whether this node's partition is quorate right
/// now: the check an executor makes right before an irreversible step. It has a libquorum
/// connection of its own (the session's belongs to the dispatch thread), and it never
/// waits long: a corosync that does not answer within the timeout (frozen, gone) counts as
/// "not quorate".
public final class QuorumProbe: Sendable {
    private let handle: Mutex<quorum_handle_t?>
    private let busy = Mutex(false)

    public init() throws(CorosyncError) {
        var h: quorum_handle_t = 0
        let err = lifeboat_quorum_probe_initialize(&h)
        guard err == CS_OK else { throw CorosyncError(err, "quorum_initialize") }
        handle = Mutex(h)
    }

    deinit { close() }

    public func close() {
        handle.withLock { h in
            if let x = h { quorum_finalize(x) }
            h = nil
        }
    }

    /// true/false from corosync; nil when it did not answer within `timeout` seconds or the
    /// call failed (callers treat nil as not quorate).
    public func isQuorate(timeout: Double = 1) -> Bool? {
        // One call at a time: a call stuck in a frozen corosync must not pile up threads.
        let acquired = busy.withLock { b -> Bool in
            if b { return false }
            b = true
            return true
        }
        guard acquired else { return nil }
        let result = Mutex<Bool??>(nil)
        let done = DispatchSemaphore(value: 0)
        let probe = self
        Thread.detachNewThread {
            let answer: Bool? = probe.handle.withLock { h in
                guard let h else { return nil }
                var q: Int32 = 0
                return quorum_getquorate(h, &q) == CS_OK ? q != 0 : nil
            }
            result.withLock { $0 = .some(answer) }
            probe.busy.withLock { $0 = false }
            done.signal()
        }
        guard done.wait(timeout: .now() + timeout) == .success else { return nil }
        return result.withLock { $0 } ?? nil
    }
}
