import Foundation
import LifeboatCore

/// Masakari's request schemas, checked by hand: every object has `additionalProperties:
/// false`, and each error names the field, as jsonschema's messages in Masakari do.
struct BodyReader {
    let path: String
    let members: [(String, JSONValue)]

    /// The request body: JSON with exactly one key, `wrapper` (`{"segment": {...}}`).
    static func wrapped(_ body: [UInt8], _ wrapper: String) throws(APIFault) -> BodyReader {
        guard !body.isEmpty else { throw .badRequest("The request body is empty: expected {\"\(wrapper)\": {...}}") }
        let value: JSONValue
        do { value = try JSONParser.parse(String(decoding: body, as: UTF8.self)) } catch {
            throw .badRequest("Malformed request body: \(error)")
        }
        guard case .object(let top) = value else { throw .badRequest("Invalid input: the body must be an object {\"\(wrapper)\": {...}}") }
        for (k, _) in top where k != wrapper {
            throw .badRequest("Invalid input for the request body. Additional properties are not allowed ('\(k)' was unexpected)")
        }
        guard let inner = top.first(where: { $0.0 == wrapper })?.1 else { throw .badRequest("Invalid input: '\(wrapper)' is a required property") }
        guard case .object(let m) = inner else { throw .badRequest("Invalid input for field/attribute \(wrapper): expected an object, found \(inner.typeName)") }
        return BodyReader(path: wrapper, members: m)
    }

    init(path: String, members: [(String, JSONValue)]) {
        self.path = path
        self.members = members
    }

    func only(_ allowed: [String]) throws(APIFault) {
        for (k, _) in members where !allowed.contains(k) {
            throw .badRequest("Invalid input for field/attribute \(path). Additional properties are not allowed ('\(k)' was unexpected)")
        }
    }

    func has(_ key: String) -> Bool { members.contains { $0.0 == key } }
    func value(_ key: String) -> JSONValue? { members.first { $0.0 == key }?.1 }

    func invalid(_ key: String, _ why: String) -> APIFault {
        .badRequest("Invalid input for field/attribute \(key). \(why)")
    }

    func required(_ key: String) throws(APIFault) -> JSONValue {
        guard let v = value(key) else { throw .badRequest("Invalid input for field/attribute \(path). '\(key)' is a required property") }
        return v
    }

    /// Masakari's *name*: 1–255 printable characters, no surrounding whitespace.
    func name(_ key: String) throws(APIFault) -> String {
        guard case .string(let s) = try required(key) else { throw invalid(key, "Value must be a string") }
        guard (1...255).contains(s.count) else { throw invalid(key, "Value must be 1 to 255 characters long") }
        guard s.allSatisfy(Self.printable) else { throw invalid(key, "Value contains characters that are not printable") }
        guard s.first?.isWhitespace == false, s.last?.isWhitespace == false else {
            throw invalid(key, "Value must not begin or end with whitespace")
        }
        return s
    }

    /// Masakari's *description*: a string (printable and newlines, ≤ 255) or null.
    func description(_ key: String) throws(APIFault) -> String? {
        let v = try required(key)
        if case .null = v { return nil }
        guard case .string(let s) = v else { throw invalid(key, "Value must be a string or null") }
        guard s.count <= 255 else { throw invalid(key, "Value must be at most 255 characters long") }
        guard s.allSatisfy({ Self.printable($0) || $0 == "\n" }) else { throw invalid(key, "Value contains characters that are not printable") }
        return s
    }

    /// Masakari's *type*: a string of letters and digits (≤ 255) or null.
    func type(_ key: String) throws(APIFault) -> String? {
        let v = try required(key)
        if case .null = v { return nil }
        guard case .string(let s) = v else { throw invalid(key, "Value must be a string or null") }
        guard s.count <= 255, s.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0)) }) else {
            throw invalid(key, "Value must match ^[a-zA-Z0-9]*$ and be at most 255 characters long")
        }
        return s
    }

    /// Masakari's *hostname*: 1–255 of letters, digits, `-._`.
    func hostname(_ key: String) throws(APIFault) -> String {
        guard case .string(let s) = try required(key) else { throw invalid(key, "Value must be a string") }
        guard (1...255).contains(s.count), s.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-._".unicodeScalars.contains($0)) })
        else { throw invalid(key, "Value must match ^[a-zA-Z0-9-._]*$ and be 1 to 255 characters long") }
        return s
    }

    func boolean(_ key: String) throws(APIFault) -> Bool {
        let v = try required(key)
        switch v {
        case .bool(let b): return b
        case .string(let s):
            if let b = Self.parseBool(s) { return b }
            throw invalid(key, "Value '\(s)' is not a boolean (true/false, 1/0, on/off, yes/no)")
        default: throw invalid(key, "Value must be a boolean")
        }
    }

    func oneOf(_ key: String, _ choices: [String]) throws(APIFault) -> String {
        guard case .string(let s) = try required(key), choices.contains(s) else {
            throw invalid(key, "Value must be one of \(choices.map { "'\($0)'" }.joined(separator: ", "))")
        }
        return s
    }

    static func parseBool(_ s: String) -> Bool? {
        switch s.lowercased() {
        case "true", "1", "on", "yes", "t", "y": true
        case "false", "0", "off", "no", "f", "n": false
        default: nil
        }
    }

    static func printable(_ c: Character) -> Bool {
        c.unicodeScalars.allSatisfy { s in
            !(s.value < 0x20 || (0x7F...0x9F).contains(s.value) || s.properties.generalCategory == .format
                || s.properties.generalCategory == .unassigned || s.properties.generalCategory == .lineSeparator
                || s.properties.generalCategory == .paragraphSeparator || s.properties.generalCategory == .surrogate)
        }
    }
}

/// Masakari's `generated_time`: ISO 8601, lenient (a space for the `T`, no zone = UTC,
/// fractions of a second). Answers the seconds since the epoch and the wire form
/// (`2026-11-26T13:27:49.916130`).
enum GeneratedTime {
    static func parse(_ s: String) -> (Double, String)? {
        let chars = Array(s.trimmingCharacters(in: .whitespaces))
        func digits(_ from: Int, _ n: Int) -> Int? {
            guard from + n <= chars.count else { return nil }
            var v = 0
            for c in chars[from..<from + n] {
                guard let d = c.wholeNumberValue, c.isASCII else { return nil }
                v = v * 10 + d
            }
            return v
        }
        guard let year = digits(0, 4), chars.count >= 10, chars[4] == "-", let month = digits(5, 2), chars[7] == "-",
            let day = digits(8, 2)
        else { return nil }
        var hour = 0, minute = 0, second = 0
        var micros = 0
        var offset = 0
        var i = 10
        if i < chars.count {
            guard chars[i] == "T" || chars[i] == " " || chars[i] == "t", let h = digits(i + 1, 2), i + 3 < chars.count,
                chars[i + 3] == ":", let m = digits(i + 4, 2)
            else { return nil }
            hour = h
            minute = m
            i += 6
            if i < chars.count, chars[i] == ":" {
                guard let sec = digits(i + 1, 2) else { return nil }
                second = sec
                i += 3
                if i < chars.count, chars[i] == "." || chars[i] == "," {
                    i += 1
                    var frac = ""
                    while i < chars.count, let _ = chars[i].wholeNumberValue, chars[i].isASCII {
                        frac.append(chars[i])
                        i += 1
                    }
                    guard !frac.isEmpty else { return nil }
                    micros = Int((frac + "000000").prefix(6))!
                }
            }
            if i < chars.count {
                if chars[i] == "Z" || chars[i] == "z" {
                    i += 1
                } else if chars[i] == "+" || chars[i] == "-" {
                    let sign = chars[i] == "-" ? -1 : 1
                    guard let oh = digits(i + 1, 2) else { return nil }
                    var j = i + 3
                    if j < chars.count, chars[j] == ":" { j += 1 }
                    guard let om = digits(j, 2) else { return nil }
                    offset = sign * (oh * 3600 + om * 60)
                    i = j + 2
                }
            }
            guard i == chars.count else { return nil }
        }
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61, year >= 1970 else { return nil }
        var c = DateComponents()
        c.year = year
        c.month = month
        c.day = day
        c.hour = hour
        c.minute = minute
        c.second = second
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        guard let date = cal.date(from: c), cal.component(.day, from: date) == day else { return nil }
        let t = date.timeIntervalSince1970 - Double(offset) + Double(micros) / 1_000_000
        return (t, format(t))
    }

    static func format(_ t: Double) -> String { MasakariTime.format(t) }
}
