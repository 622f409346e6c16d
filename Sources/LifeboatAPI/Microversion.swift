/// Masakari's microversions: `OpenStack-API-Version: instance-ha X.Y` (none: 1.0,
/// `latest`: 1.3); a malformed value is a 400, one outside 1.0–1.3 a 406.
public struct Microversion: Comparable, Sendable, CustomStringConvertible {
    public var major: Int
    public var minor: Int

    public init(_ major: Int, _ minor: Int) {
        self.major = major
        self.minor = minor
    }

    public static let min = Microversion(1, 0)
    public static let max = Microversion(1, 3)

    public static func < (a: Microversion, b: Microversion) -> Bool { (a.major, a.minor) < (b.major, b.minor) }
    public var description: String { "\(major).\(minor)" }

    /// The version a request asks for, from its headers (lowercased names).
    public static func requested(_ headers: [String: String]) throws(APIFault) -> Microversion {
        guard let raw = headers["openstack-api-version"] else { return .min }
        // A comma-separated list of "service version" pairs; only ours counts.
        var mine: String? = nil
        for item in raw.split(separator: ",") {
            let words = item.split(separator: " ", omittingEmptySubsequences: true)
            guard words.count == 2 else { throw .badRequest("malformed OpenStack-API-Version header: '\(raw)'") }
            if words[0].lowercased() == "instance-ha" { mine = String(words[1]) }
        }
        guard let v = mine else { return .min }
        if v.lowercased() == "latest" { return .max }
        let parts = v.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]), major >= 0, minor >= 0,
            parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) })
        else { throw .badRequest("malformed microversion '\(v)' in OpenStack-API-Version (expected instance-ha X.Y or latest)") }
        let m = Microversion(major, minor)
        guard m >= .min, m <= .max else {
            throw APIFault(406, "Version \(m) is not supported by the API. Minimum is \(Microversion.min) and maximum is \(Microversion.max).")
        }
        return m
    }

    var headers: [(String, String)] { [("OpenStack-API-Version", "instance-ha \(self)"), ("Vary", "OpenStack-API-Version")] }
}
