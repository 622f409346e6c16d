/// Helpers for Lifeboat's explicit JSON schema (Docs/WIRE.md): every replicated type is
/// written and read by hand, field by field, with the project's one JSON stack
/// (`JSONParser`, `JSONValue`, `JSONWriter`). Nothing is left to synthesized `Codable`, so a
/// renamed Swift property cannot change the protocol or the files on disk; the golden-file
/// tests catch any change of the schema that comes without a version bump.
extension JSONValue {
    public static func int(_ v: Int) -> JSONValue { .number(Double(v)) }
    public static func uint(_ v: UInt64) -> JSONValue { .number(Double(v)) }
    public static func uint(_ v: UInt32) -> JSONValue { .number(Double(v)) }
    public static func optional(_ v: String?) -> JSONValue { v.map { .string($0) } ?? .null }
    public static func optional(_ v: Double?) -> JSONValue { v.map { .number($0) } ?? .null }
    public static func strings(_ v: [String]) -> JSONValue { .array(v.map { .string($0) }) }
}

/// The largest whole number a JSON number carries exactly (2^53).
let maxExactInteger = 9_007_199_254_740_992.0

extension ObjectReader {
    /// A string that may be empty (reasons, messages, console text).
    public mutating func text(_ key: String) throws(ScenarioError) -> String {
        let v = try required(key)
        guard case .string(let s) = v else { throw ScenarioError(sub(key), "expected a string, found \(v.typeName)") }
        return s
    }

    public mutating func optionalText(_ key: String) throws(ScenarioError) -> String? {
        guard let v = optional(key) else { return nil }
        guard case .string(let s) = v else { throw ScenarioError(sub(key), "expected a string, found \(v.typeName)") }
        return s
    }

    public mutating func optionalNumber(_ key: String) throws(ScenarioError) -> Double? {
        guard let v = optional(key) else { return nil }
        return try Self.number(v, at: sub(key))
    }

    public mutating func uint64(_ key: String) throws(ScenarioError) -> UInt64 {
        try Self.uint64(try required(key), at: sub(key))
    }

    public static func uint64(_ v: JSONValue, at path: String) throws(ScenarioError) -> UInt64 {
        let d = try number(v, at: path)
        guard d >= 0, d == d.rounded(), d <= maxExactInteger else {
            throw ScenarioError(path, "expected a whole number from 0 to 2^53, found \(d)")
        }
        return UInt64(d)
    }

    public mutating func uint32(_ key: String) throws(ScenarioError) -> UInt32 {
        let v = try uint64(key)
        guard v <= UInt64(UInt32.max) else { throw ScenarioError(sub(key), "must be at most \(UInt32.max)") }
        return UInt32(v)
    }

    public mutating func object(_ key: String) throws(ScenarioError) -> ObjectReader {
        try ObjectReader(try required(key), at: sub(key))
    }

    public mutating func choice<E: RawRepresentable & CaseIterable>(_ key: String, _: E.Type) throws(ScenarioError) -> E
    where E.RawValue == String {
        try Self.choice(try required(key), at: sub(key), E.self)
    }

    public static func choice<E: RawRepresentable & CaseIterable>(_ v: JSONValue, at path: String, _: E.Type) throws(ScenarioError) -> E
    where E.RawValue == String {
        let s = try string(v, at: path)
        guard let e = E(rawValue: s) else {
            throw ScenarioError(path, "unknown value '\(s)' (one of: \(E.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return e
    }

    /// Every element of an array, each read by `item` with its index in the path.
    public mutating func list<T>(_ key: String, _ item: (JSONValue, String) throws(ScenarioError) -> T) throws(ScenarioError) -> [T] {
        var out: [T] = []
        let items = try array(key)
        out.reserveCapacity(items.count)
        for (n, v) in items.enumerated() { out.append(try item(v, "\(sub(key))[\(n)]")) }
        return out
    }

    public mutating func stringList(_ key: String) throws(ScenarioError) -> [String] {
        try list(key) { v, p throws(ScenarioError) in try Self.string(v, at: p) }
    }
}
