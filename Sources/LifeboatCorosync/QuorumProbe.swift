import CCorosync
import Foundation
import Synchronization

/// Asks the local corosync, synchronously, whether this node's partition is quorate right
/// now: the check an executor makes right before an irreversible step. It has a libquorum
/// connection of its own (the session's belongs to the dispatch thread), and it never
/// waits long: a corosync that does not answer within the timeout (frozen, gone) counts as
/// "not quorate".
///
/// Many executors ask at once (50 evacuations right before their POSTs): one probe runs at
/// a time (a call stuck in a frozen corosync never piles up threads), and every caller gets
/// the answer of a probe that *started after it asked*, so an answer is never older than
/// the question.
public final class QuorumProbe: @unchecked Sendable {
    private let handle: Mutex<quorum_handle_t?>
    /// Guards the fields below; callers wait on it for their probe's answer.
    private let cond = NSCondition()
    private var running = false
    private var wanted = false
    private var started: UInt64 = 0
    private var finished: UInt64 = 0
    private var answers: [UInt64: Bool?] = [:]

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
        cond.lock()
        defer { cond.unlock() }
        // The answer must come from a probe that starts after this call: the next one.
        let need = started + 1
        if running { wanted = true } else { startProbe() }
        let deadline = Date().addingTimeInterval(timeout)
        while finished < need {
            if !cond.wait(until: deadline) { return nil }
        }
        return answers[need] ?? nil
    }

    /// Called with `cond` held.
    private func startProbe() {
        started += 1
        running = true
        let generation = started
        Thread.detachNewThread { [self] in
            let answer: Bool? = handle.withLock { h in
                guard let h else { return nil }
                var q: Int32 = 0
                return quorum_getquorate(h, &q) == CS_OK ? q != 0 : nil
            }
            cond.lock()
            answers[generation] = .some(answer)
            answers = answers.filter { $0.key + 64 > generation }
            finished = generation
            running = false
            if wanted {
                wanted = false
                startProbe()
            }
            cond.broadcast()
            cond.unlock()
        }
    }
}
