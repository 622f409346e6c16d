import LifeboatCorosync
import Synchronization

/// What executors, on their own threads, may ask at any moment: does this node still hold
/// the term of the attempt it runs, with quorum, with quorum and membership agreeing? The
/// daemon's actor updates the cached part after every input; the quorum part is asked of
/// corosync synchronously at the moment of the check (`QuorumProbe`), so a split that
/// corosync has seen but the actor has not yet processed still stops a power-off.
final class LeadershipGate: Sendable {
    struct View: Sendable, Equatable {
        var term: UInt64? = nil
        var mayAct = false
        var reason = "not leading"
    }

    private let view = Mutex(View())
    private let probe = Mutex<QuorumProbe?>(nil)

    func update(_ v: View) { view.withLock { $0 = v } }

    func setProbe(_ p: QuorumProbe?) {
        let old = probe.withLock { x -> QuorumProbe? in
            let o = x
            x = p
            return o
        }
        if old !== p { old?.close() }
    }

    /// nil when this node may act for `term` right now; else why not.
    func whyNot(term: UInt64) -> String? {
        let v = view.withLock { $0 }
        guard v.term == term else { return "this node no longer holds term \(term)" }
        guard v.mayAct else { return v.reason }
        guard let p = probe.withLock({ $0 }) else { return "not connected to corosync" }
        switch p.isQuorate() {
        case true?: return nil
        case false?: return "corosync says this partition is not quorate"
        case nil: return "corosync did not confirm quorum in time"
        }
    }
}
