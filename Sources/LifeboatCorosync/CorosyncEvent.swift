/// What the Corosync session reports, in the order the libraries delivered it.
public enum CorosyncEvent: Sendable, Equatable {
    /// A CPG configuration change (virtual synchrony: same order on every member).
    case configurationChanged(members: [CPGMember], left: [CPGMember], joined: [CPGMember])
    /// A message multicast to the group, in agreed order.
    case delivered(from: UInt32, pid: UInt32, bytes: [UInt8])
    /// Quorum of this node's partition changed (a separate channel: not ordered with CPG).
    case quorumChanged(quorate: Bool, members: [UInt32])
    /// The connection to the local corosync is gone; the session has ended.
    case disconnected(CorosyncError)
}

/// A process in the CPG group.
public struct CPGMember: Hashable, Sendable, Comparable {
    public var nodeID: UInt32
    public var pid: UInt32
    public var reason: Reason

    public init(nodeID: UInt32, pid: UInt32, reason: Reason = .undefined) {
        self.nodeID = nodeID
        self.pid = pid
        self.reason = reason
    }

    public static func < (a: CPGMember, b: CPGMember) -> Bool { (a.nodeID, a.pid) < (b.nodeID, b.pid) }

    /// Why a member joined or left (`CPG_REASON_*`).
    public enum Reason: UInt32, Sendable {
        case undefined = 0
        case join = 1
        /// A clean `cpg_leave`.
        case leave = 2
        /// The node left the Corosync membership: crash, hang or network cut.
        case nodeDown = 3
        case nodeUp = 4
        /// The process died while its node's corosync lives on.
        case processDown = 5
    }
}
