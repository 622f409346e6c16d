import LifeboatCore

/// An operator's command as the control socket (and the API's native paths) turn it into
/// an event: any JSON is an event or a ScenarioError; an event is applied to a small
/// cluster, which accepts it or refuses it with EventRejected, leaving the state unchanged.
let base: ClusterState = {
    var c = ClusterConfiguration(
        segments: [Segment(name: "a", recoveryMethod: .auto), Segment(name: "b", recoveryMethod: .reservedHost)],
        hosts: [
            Host(name: "h1", segment: "a", nodeID: 1, capacity: Capacity(vcpus: 16, ramMB: 65536, diskGB: 500)),
            Host(name: "h2", segment: "a", nodeID: 2, capacity: Capacity(vcpus: 16, ramMB: 65536, diskGB: 500)),
            Host(name: "h3", segment: "b", nodeID: 3, reserved: true, capacity: Capacity(vcpus: 16, ramMB: 65536, diskGB: 500)),
        ],
        instances: [
            Instance(id: "vm1", host: "h1", ha: true, flavor: Capacity(vcpus: 2, ramMB: 4096, diskGB: 20)),
            Instance(id: "vm2", host: "h2", ha: false, flavor: Capacity(vcpus: 2, ramMB: 4096, diskGB: 20)),
        ])
    c.detachedHosts = [Host(name: "h9", segment: "a", nodeID: 9, capacity: Capacity(vcpus: 8, ramMB: 8192, diskGB: 100))]
    var s = ClusterState(configuration: c)
    _ = try? s.apply(.leaderChanged(holder: TermHolder(node: 1, incarnation: 1)), at: 100)
    return s
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCommand(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let json = try? JSONParser.parse(bytes: bytes) else { return 0 }
    var s = base
    // As a person's command (names checked, leader's records refused) and as a decoded
    // log record (what replication applies).
    var events: [Event] = []
    if let e = try? Scenario.parseCommandEvent(json, state: s) { events.append(e) }
    if let e = try? Event.decode(json, at: "event") { events.append(e) }
    for e in events {
        let before = s
        do {
            _ = try s.apply(e, at: 200)
            _ = Scheduler.plan(s)
        } catch {
            precondition(s == before, "a refused event changed the state: \(e.kind)")
        }
    }
    return 0
}
