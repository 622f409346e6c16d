import CFreeIPMI
import Foundation
import LifeboatCore
import LifeboatSystem
import Synchronization

/// The tail of a host's serial console, from its BMC's Serial-over-LAN through
/// libipmiconsole: SOL payload instance 2 returns the console history, ending with
/// `<End Of History>`. Runs beside the power-off and never delays it.
public enum SerialConsole {
    static let marker = Array("<End Of History>".utf8)
    /// libipmiconsole's engine: started once per process.
    static let engine: Bool = ipmiconsole_engine_init(1, 0) == 0

    /// Captures the history (at most `ActionReport.maxConsoleBytes`, the newest part), or
    /// says why there is none. Bounded by `timeout` seconds.
    public static func capture(_ s: IPMISettings, host: String, timeout: Double = 4) async -> ConsoleCapture {
        await Blocking.run("sol \(host)") { captureBlocking(s, host: host, timeout: timeout) }
    }

    static func captureBlocking(_ s: IPMISettings, host: String, timeout: Double) -> ConsoleCapture {
        guard engine else { return .unavailable("libipmiconsole could not start its engine") }
        let password: String
        do { password = try PasswordFile.read(s.passwordFile) } catch { return .unavailable(error.message) }
        let privilege: Int32 =
            switch s.privilege {
            case .user: 0
            case .operator: 1
            case .admin: 2
            }
        let hostname = s.port == 623 ? s.address : "\(s.address):\(s.port)"
        let workarounds = IPMI.flags(s.workarounds, IPMI.consoleWorkaroundBits)
        guard
            let ctx = lifeboat_console_ctx(
                hostname, s.username, password, privilege, Int32(s.cipherSuite), workarounds, Int32(min(5000, timeout * 1000)), 250, 2000, 2)
        else { return .unavailable("BMC \(s.address) of \(host): cannot create a SOL context") }
        defer { ipmiconsole_ctx_destroy(ctx) }
        guard ipmiconsole_engine_submit_block(ctx) == 0 else {
            return .unavailable("BMC \(s.address) of \(host): no serial console: \(String(cString: ipmiconsole_ctx_errormsg(ctx)))")
        }
        let fd = ipmiconsole_ctx_fd(ctx)
        guard fd >= 0 else { return .unavailable("BMC \(s.address) of \(host): \(String(cString: ipmiconsole_ctx_errormsg(ctx)))") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 8192)
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        var complete = false
        while ContinuousClock.now < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let left = Int32(max(1, milliseconds(until: deadline)))
            guard poll(&p, 1, min(left, 200)) >= 0 else { break }
            if p.revents & Int16(POLLIN) == 0 {
                if p.revents != 0 { break }
                continue
            }
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            bytes += chunk[0..<n]
            if let end = find(marker, in: bytes) {
                bytes = Array(bytes[..<end])
                complete = true
                break
            }
            if bytes.count > 4 * ActionReport.maxConsoleBytes { bytes.removeFirst(bytes.count - 2 * ActionReport.maxConsoleBytes) }
        }
        // A wrapped history buffer can leave a NUL before the marker.
        bytes.removeAll { $0 == 0 }
        let text = String(decoding: bytes.suffix(ActionReport.maxConsoleBytes), as: UTF8.self)
        if !complete && text.isEmpty { return .unavailable("BMC \(s.address) of \(host): the serial console sent nothing within \(timeout) s") }
        return .captured(text)
    }

    static func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        let start = max(0, hay.count - needle.count - 8192 - 64)
        var i = start
        while i + needle.count <= hay.count {
            if hay[i] == needle[0], Array(hay[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }

    static func milliseconds(until deadline: ContinuousClock.Instant) -> Int { (deadline - ContinuousClock.now).wholeMilliseconds }
}
