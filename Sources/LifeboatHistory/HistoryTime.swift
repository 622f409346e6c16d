import Foundation

/// Times as the history prints them: UTC, to the millisecond, the same on every node.
public enum HistoryTime {
    /// `2026-12-03 16:30:15.123Z`
    public static func utc(_ t: Double, milliseconds: Bool = true) -> String {
        var secs = time_t(t.rounded(.down))
        var tm = tm()
        gmtime_r(&secs, &tm)
        let ms = Int(((t - t.rounded(.down)) * 1000).rounded(.down))
        let base = String(
            format: "%04d-%02d-%02d %02d:%02d:%02d", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday), Int(tm.tm_hour),
            Int(tm.tm_min), Int(tm.tm_sec))
        return milliseconds ? base + String(format: ".%03dZ", ms) : base + "Z"
    }

    /// RFC 3339 for JSON: `2026-12-03T16:30:15.123Z`.
    public static func iso(_ t: Double) -> String { utc(t).replacingOccurrences(of: " ", with: "T") }

    /// A time the operator typed: `30d`, `12h`, `45m`, `90s` (that long before `now`), a
    /// date `2026-11-24`, a date and time `2026-11-24T10:00` or `2026-11-24 10:00:00` (UTC,
    /// optional `Z`), or seconds since 1970.
    public static func parse(_ text: String, now: Double) -> Double? {
        let s = text.trimmingCharacters(in: .whitespaces)
        if let unit = s.last, "smhdw".contains(unit), let n = Double(s.dropLast()), n >= 0 {
            let scale: Double = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800][String(unit)]!
            return now - n * scale
        }
        if let n = Double(s), n > 1_000_000_000 { return n }
        var t = s.replacingOccurrences(of: "T", with: " ")
        if t.hasSuffix("Z") { t.removeLast() }
        let parts = t.split(separator: " ")
        guard let datePart = parts.first, parts.count <= 2 else { return nil }
        let d = datePart.split(separator: "-").compactMap { Int($0) }
        guard d.count == 3, (1...12).contains(d[1]), (1...31).contains(d[2]) else { return nil }
        var clock = [0, 0, 0.0]
        if parts.count == 2 {
            let c = parts[1].split(separator: ":")
            guard (2...3).contains(c.count), let h = Int(c[0]), let m = Int(c[1]), (0...23).contains(h), (0...59).contains(m) else { return nil }
            clock = [Double(h), Double(m), c.count == 3 ? (Double(c[2]) ?? -1) : 0]
            guard clock[2] >= 0, clock[2] < 61 else { return nil }
        }
        var tm = tm()
        tm.tm_year = Int32(d[0] - 1900)
        tm.tm_mon = Int32(d[1] - 1)
        tm.tm_mday = Int32(d[2])
        tm.tm_hour = Int32(clock[0])
        tm.tm_min = Int32(clock[1])
        let base = timegm(&tm)
        guard base != -1 else { return nil }
        return Double(base) + clock[2]
    }
}
