import LifeboatCore

/// The hand-written JSON parser every input goes through (scenarios, configuration, wire
/// messages, control requests, snapshots): any bytes give a value or an error, and a value
/// written out and parsed again is the same value.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let value = try? JSONParser.parse(bytes: bytes) else { return 0 }
    let text = JSONWriter.write(value)
    guard let again = try? JSONParser.parse(text) else { fatalError("written JSON does not parse again: \(text.prefix(200))") }
    precondition(again == value, "JSON round trip changed the value: \(text.prefix(200))")
    return 0
}
