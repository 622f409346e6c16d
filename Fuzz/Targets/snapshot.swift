import LifeboatCore

/// What a joining node is sent and what a restart reads from disk: a cluster
/// configuration (`lifeboat config apply`) and a whole state. Any JSON decodes or is
/// refused; what decodes encodes back to the same state.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSnapshot(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let json = try? JSONParser.parse(bytes: bytes) else { return 0 }
    if let c = try? ClusterConfiguration.parse(json["cluster"] ?? json), (try? c.validate()) != nil {
        let s = ClusterState(configuration: c)
        guard let back = try? ClusterState.decode(s.json, at: "state") else { fatalError("a state built from a valid configuration does not decode") }
        precondition(back == s, "state round trip changed it")
    }
    if let s = try? ClusterState.decode(json, at: "state") {
        guard let back = try? ClusterState.decode(s.json, at: "state") else { fatalError("a decoded state does not decode again once written") }
        precondition(back == s, "decoded state changed on a round trip")
    }
    return 0
}
