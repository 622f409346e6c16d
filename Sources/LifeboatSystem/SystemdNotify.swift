import Foundation

/// The service manager's protocol (sd_notify(3)), without libsystemd: datagrams on the
/// socket named by `NOTIFY_SOCKET` (`READY=1`, `STATUS=…`, `WATCHDOG=1`, `STOPPING=1`).
/// Outside systemd (no `NOTIFY_SOCKET`) every call does nothing.
public enum SystemdNotify {
    /// Sends one state string; false when there is no socket or the send failed.
    @discardableResult
    public static func send(_ state: String) -> Bool {
        guard let path = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"], !path.isEmpty else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        // "@name" is an abstract socket: its name starts with a zero byte.
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, message.count, Int32(MSG_NOSIGNAL), sa, length) }
            }
        }
        return sent == message.count
    }

    /// Half the watchdog period systemd asked for (`WATCHDOG_USEC`, for this process when
    /// `WATCHDOG_PID` says so): how often to send `WATCHDOG=1`. nil: no watchdog.
    public static var watchdogInterval: Double? {
        let env = ProcessInfo.processInfo.environment
        guard let usec = env["WATCHDOG_USEC"].flatMap(Double.init), usec > 0 else { return nil }
        if let pid = env["WATCHDOG_PID"].flatMap(Int32.init), pid != getpid() { return nil }
        return usec / 2_000_000
    }
}
