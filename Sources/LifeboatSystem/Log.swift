import Foundation
import Logging
import Synchronization

/// lifeboatd's log, through swift-log: one `Logger` ("lifeboatd") that the daemon's code
/// reaches through these short calls, written by `LifeboatLogHandler` on stderr, as plain
/// lines or as journald expects them (`log_format`), at the configured level (`log_level`).
public enum Log {
    static let state = Mutex(Logger(label: "lifeboatd", factory: { LifeboatLogHandler(label: $0) }))

    /// Installs the handler for every logger of the process (swift-log's bootstrap, once),
    /// and sets the level and format.
    public static let levelNames = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// From the configuration's names (checked by its parser); nil format: journald under
    /// systemd (JOURNAL_STREAM is set), text otherwise.
    public static func configure(levelName: String, formatName: String?) {
        let level = Logger.Level(rawValue: levelName) ?? .info
        let format = formatName.flatMap(LifeboatLogHandler.Format.init(rawValue:))
            ?? (ProcessInfo.processInfo.environment["JOURNAL_STREAM"] == nil ? .text : .journald)
        configure(level: level, format: format)
    }

    public static func configure(level: Logger.Level, format: LifeboatLogHandler.Format) {
        LifeboatLogHandler.settings.withLock { $0 = (level, format) }
        bootstrapOnce
        state.withLock { l in
            var n = Logger(label: "lifeboatd", factory: { LifeboatLogHandler(label: $0) })
            n.logLevel = level
            n[metadataKey: "node"] = l[metadataKey: "node"]
            l = n
        }
    }

    static let bootstrapOnce: Void = LoggingSystem.bootstrap { LifeboatLogHandler(label: $0) }

    /// The node's name in every line (`lifeboatd[host1]`, `node=host1`).
    public static func setNode(_ name: String) { state.withLock { $0[metadataKey: "node"] = .string(name) } }

    public static func debug(_ message: String) { logger.debug("\(message)") }
    public static func info(_ message: String) { logger.info("\(message)") }
    public static func notice(_ message: String) { logger.notice("\(message)") }
    public static func warning(_ message: String) { logger.warning("\(message)") }
    public static func error(_ message: String) { logger.error("\(message)") }

    public static var logger: Logger { state.withLock { $0 } }
}

/// Writes swift-log records on stderr.
/// - `text`: `1764780000.123 lifeboatd[host1] info: message key=value` (a terminal, a file);
/// - `journald`: `<6>message node=host1 key=value`: the `<N>` syslog priority prefix that
///   journald reads from a service's stderr (sd-daemon(3)); journald adds time and unit.
public struct LifeboatLogHandler: LogHandler {
    public enum Format: String, Sendable, CaseIterable { case text, journald }

    static let settings = Mutex<(Logger.Level, Format)>((.info, ProcessInfo.processInfo.environment["JOURNAL_STREAM"] == nil ? .text : .journald))

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String

    public init(label: String) {
        self.label = label
        logLevel = Self.settings.withLock { $0.0 }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let format = Self.settings.withLock { $0.1 }
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        let node = fields.removeValue(forKey: "node").map { "\($0)" }
        let extras = fields.keys.sorted().map { "\($0)=\(fields[$0]!)" }.joined(separator: " ")
        let text = "\(event.message)" + (extras.isEmpty ? "" : " " + extras)
        let name = label == "lifeboatd" ? "lifeboatd" : "lifeboatd/\(label)"
        let line: String
        switch format {
        case .text:
            line = "\(String(format: "%.3f", Date().timeIntervalSince1970)) \(name)\(node.map { "[\($0)]" } ?? "") \(Self.word(event.level)): \(text)\n"
        case .journald:
            line = "<\(Self.priority(event.level))>\(text)\(node.map { " node=\($0)" } ?? "")\(label == "lifeboatd" ? "" : " component=\(label)")\n"
        }
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func word(_ level: Logger.Level) -> String {
        switch level {
        case .trace: "trace"
        case .debug: "debug"
        case .info: "info"
        case .notice: "notice"
        case .warning: "warning"
        case .error: "error"
        case .critical: "critical"
        }
    }

    /// syslog priorities: debug 7, info 6, notice 5, warning 4, err 3, crit 2.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}
