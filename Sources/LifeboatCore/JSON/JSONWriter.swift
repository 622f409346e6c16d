/// Writes JSON with keys in the order given: output lines read the same every run.
public enum JSONWriter {
    /// - Parameter timeKeys: keys whose numbers are times and always print with a
    ///   fraction (`"at":0.0`), as scenario output shows them.
    public static func write(_ value: JSONValue, timeKeys: Set<String> = ["at"]) -> String {
        var out = ""
        write(value, timeKeys: timeKeys, into: &out)
        return out
    }

    static func write(_ value: JSONValue, timeKeys: Set<String>, asTime: Bool = false, into out: inout String) {
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let d): out += asTime ? String(d) : formatNumber(d)
        case .string(let s): writeString(s, into: &out)
        case .array(let items):
            out += "["
            for (n, item) in items.enumerated() {
                if n > 0 { out += "," }
                write(item, timeKeys: timeKeys, into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (n, (k, v)) in members.enumerated() {
                if n > 0 { out += "," }
                writeString(k, into: &out)
                out += ":"
                write(v, timeKeys: timeKeys, asTime: timeKeys.contains(k), into: &out)
            }
            out += "}"
        }
    }

    /// Whole numbers print without a fraction (counts, sizes); times keep one.
    static func formatNumber(_ d: Double) -> String {
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return String(d)
    }

    static func writeString(_ s: String, into out: inout String) {
        // Most strings need no escape: appended whole (a scalar at a time costs ~10x more on
        // a list of a thousand API records).
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) {
            out += "\""
            out += s
            out += "\""
            return
        }
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
    }
}
