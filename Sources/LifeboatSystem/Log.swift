import Foundation
import Synchronization

/// Plain log lines on stderr (journald picks them up under systemd): time, level, message.
public enum Log {
    static let prefix = Mutex("lifeboatd")

    public static func setPrefix(_ p: String) { prefix.withLock { $0 = p } }

    public static func info(_ message: String) { write("info", message) }
    public static func warning(_ message: String) { write("warning", message) }
    public static func error(_ message: String) { write("error", message) }

    static func write(_ level: String, _ message: String) {
        let now = Date().timeIntervalSince1970
        let line = "\(String(format: "%.3f", now)) \(prefix.withLock { $0 }) \(level): \(message)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
