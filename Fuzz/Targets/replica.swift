import LifeboatCore
import LifeboatReplication

/// The replication state machine fed with whatever peers might send: the input is split
/// into frames (at newlines), each delivered from one of two other members, with clock
/// ticks between; whatever arrives, the replica never crashes and its state stays
/// decodable.
let configuration = ClusterConfiguration(
    segments: [Segment(name: "a", recoveryMethod: .auto)],
    hosts: (1...3).map { Host(name: "h\($0)", segment: "a", nodeID: UInt32($0), capacity: Capacity(vcpus: 16, ramMB: 65536, diskGB: 500)) },
    instances: [Instance(id: "vm1", host: "h1", ha: true, flavor: Capacity(vcpus: 2, ramMB: 4096, diskGB: 20))])

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzReplica(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let me = MemberID(node: 1, pid: 10)
    let peers = [MemberID(node: 2, pid: 20), MemberID(node: 3, pid: 30)]
    var r = Replica(nodeID: 1, pid: 10, configuration: configuration, incarnation: 7)
    var now = 1000.0
    _ = r.localQuorumChanged(true, members: [1, 2, 3], now: now)
    _ = r.configurationChanged(members: [me] + peers, left: [], joined: [me] + peers, now: now)
    for (n, frame) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).enumerated() {
        let from = peers[Int(frame.first ?? 0) % 2]
        _ = r.delivered(from: from, bytes: Array(frame.dropFirst()), now: now)
        now += 0.25
        if n % 4 == 3 { _ = r.tick(now: now) }
    }
    precondition((try? ClusterState.decode(r.state.json, at: "state")) != nil, "the replica's state no longer decodes")
    return 0
}
