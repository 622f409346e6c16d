/// What a resource agent prints for `meta-data` (OCF XML, from any agent on disk): any
/// text is metadata or an OCFError; time values in Pacemaker's formats parse or are nil.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOCF(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let m = try? OCFMetadata.parse(text) {
        for p in m.parameters { precondition(!p.name.isEmpty, "a parameter without a name was accepted") }
    }
    _ = OCFMetadata.seconds(String(text.prefix(64)))
    return 0
}
