import LifeboatCore
import LifeboatReplication

/// Messages from other nodes, as Corosync delivers them: any bytes are a message, a
/// fragment or a WireError; a message encodes back to the same message.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWire(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? WireMessage.decodeFrame(bytes)
    guard let m = try? WireMessage.decode(bytes) else { return 0 }
    guard let again = try? WireMessage.decode(m.encoded()) else { fatalError("an encoded message does not decode") }
    precondition(again == m, "wire round trip changed the message")
    return 0
}
