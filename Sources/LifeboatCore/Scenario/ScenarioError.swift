/// A problem in a scenario file, with the place it was found (`cluster.hosts[2].capacity`).
public struct ScenarioError: Error, CustomStringConvertible, Sendable, Equatable {
    public var path: String
    public var message: String
    public init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// Reads one JSON object strictly: required and optional keys, typed, and unknown keys
/// rejected when done (a typo must not silently change a scenario).
public struct ObjectReader {
    public let path: String
    public let members: [(String, JSONValue)]
    private var read: Set<String> = []

    public init(_ value: JSONValue, at path: String) throws(ScenarioError) {
        guard case .object(let m) = value else { throw ScenarioError(path, "expected an object, found \(value.typeName)") }
        self.path = path
        self.members = m
    }

    public func sub(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    public mutating func optional(_ key: String) -> JSONValue? {
        read.insert(key)
        guard let v = members.first(where: { $0.0 == key })?.1 else { return nil }
        if case .null = v { return nil }
        return v
    }

    public mutating func required(_ key: String) throws(ScenarioError) -> JSONValue {
        guard let v = optional(key) else { throw ScenarioError(sub(key), "is required") }
        return v
    }

    public mutating func string(_ key: String) throws(ScenarioError) -> String {
        try Self.string(try required(key), at: sub(key))
    }

    public mutating func string(_ key: String, default d: String) throws(ScenarioError) -> String {
        guard let v = optional(key) else { return d }
        return try Self.string(v, at: sub(key))
    }

    public mutating func bool(_ key: String, default d: Bool) throws(ScenarioError) -> Bool {
        guard let v = optional(key) else { return d }
        guard case .bool(let b) = v else { throw ScenarioError(sub(key), "expected true or false, found \(v.typeName)") }
        return b
    }

    public mutating func bool(_ key: String) throws(ScenarioError) -> Bool {
        let v = try required(key)
        guard case .bool(let b) = v else { throw ScenarioError(sub(key), "expected true or false, found \(v.typeName)") }
        return b
    }

    public mutating func number(_ key: String) throws(ScenarioError) -> Double {
        try Self.number(try required(key), at: sub(key))
    }

    public mutating func number(_ key: String, default d: Double) throws(ScenarioError) -> Double {
        guard let v = optional(key) else { return d }
        return try Self.number(v, at: sub(key))
    }

    public mutating func int(_ key: String) throws(ScenarioError) -> Int {
        try Self.int(try required(key), at: sub(key))
    }

    public mutating func int(_ key: String, default d: Int) throws(ScenarioError) -> Int {
        guard let v = optional(key) else { return d }
        return try Self.int(v, at: sub(key))
    }

    public mutating func array(_ key: String) throws(ScenarioError) -> [JSONValue] {
        guard let v = optional(key) else { return [] }
        guard case .array(let a) = v else { throw ScenarioError(sub(key), "expected an array, found \(v.typeName)") }
        return a
    }

    /// Fails on any key that was never asked for.
    public func finish(allowed extra: [String] = []) throws(ScenarioError) {
        for (k, _) in members where !read.contains(k) {
            let known = (Array(read) + extra).sorted().joined(separator: ", ")
            throw ScenarioError(sub(k), "unknown key (known here: \(known))")
        }
    }

    public static func string(_ v: JSONValue, at path: String) throws(ScenarioError) -> String {
        guard case .string(let s) = v else { throw ScenarioError(path, "expected a string, found \(v.typeName)") }
        guard !s.isEmpty else { throw ScenarioError(path, "must not be empty") }
        return s
    }

    public static func number(_ v: JSONValue, at path: String) throws(ScenarioError) -> Double {
        guard case .number(let d) = v else { throw ScenarioError(path, "expected a number, found \(v.typeName)") }
        return d
    }

    public static func int(_ v: JSONValue, at path: String) throws(ScenarioError) -> Int {
        let d = try number(v, at: path)
        guard d == d.rounded(), abs(d) < 1e12 else { throw ScenarioError(path, "expected a whole number, found \(d)") }
        return Int(d)
    }
}
