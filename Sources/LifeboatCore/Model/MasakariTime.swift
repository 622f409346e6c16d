/// Masakari's datetime form (`2026-11-26T13:27:49.916130`): what notifications carry as
/// `generated_time`. Here in the core so scenarios can write it without Foundation.
public enum MasakariTime {
    /// Masakari's datetime form: UTC, no zone, microseconds. Plain arithmetic (days to a
    /// civil date, as in H. Hinnant's `civil_from_days`): Foundation's Calendar costs tens
    /// of microseconds a call on Linux, and a list of 1,000 notifications formats 2,000.
    public static func format(_ t: Double) -> String {
        var micros = Int64((t * 1_000_000).rounded())
        if micros < 0 { micros = 0 }
        let secs = micros / 1_000_000
        let us = Int(micros % 1_000_000)
        let days = secs / 86_400
        let rem = Int(secs % 86_400)
        let z = days + 719_468
        let era = z / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = Int(doy - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        let year = Int(yoe + era * 400 + (month <= 2 ? 1 : 0))
        var out = ""
        out.reserveCapacity(26)
        func pad(_ v: Int, _ n: Int) {
            var digits = Array(repeating: UInt8(ascii: "0"), count: n)
            var x = v
            var i = n - 1
            while i >= 0 {
                digits[i] = UInt8(ascii: "0") + UInt8(x % 10)
                x /= 10
                i -= 1
            }
            out += String(decoding: digits, as: UTF8.self)
        }
        pad(year, 4); out += "-"; pad(month, 2); out += "-"; pad(day, 2); out += "T"
        pad(rem / 3600, 2); out += ":"; pad(rem / 60 % 60, 2); out += ":"; pad(rem % 60, 2); out += "."; pad(us, 6)
        return out
    }
}
