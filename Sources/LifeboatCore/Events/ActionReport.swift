/// What an executor reports for one attempt: the outcome and how it got there. It is
/// replicated with the result, so a new leader, the history and the API see the same
/// detail (which fence level powered the host off, how long each step took, the error a
/// BMC or Nova gave, the host's last console lines).
public struct ActionReport: Hashable, Sendable {
    public var outcome: Outcome
    /// One line for people: the error, or what was done.
    public var message: String?
    /// Wall time the executor spent, in milliseconds.
    public var durationMS: Int?
    /// The steps tried, in order (fence levels, API calls).
    public var steps: [StepReport]
    /// Facts for the record (`target`, `request_id`, `device`): small key/value pairs.
    public var attributes: [String: String]
    /// The tail of the host's serial console, captured when it was fenced.
    public var console: ConsoleCapture?

    public init(
        _ outcome: Outcome, message: String? = nil, durationMS: Int? = nil, steps: [StepReport] = [],
        attributes: [String: String] = [:], console: ConsoleCapture? = nil
    ) {
        self.outcome = outcome
        self.message = message
        self.durationMS = durationMS
        self.steps = steps
        self.attributes = attributes
        self.console = console
    }

    /// Bounds that keep a report small enough for the replicated state, whatever an
    /// executor (or a peer) sends: longer text is cut, and says so.
    public static let maxMessageBytes = 4096
    public static let maxSteps = 32
    public static let maxAttributes = 32
    public static let maxConsoleBytes = 64 * 1024

    /// The report cut to its bounds (cut text ends with "…").
    public var bounded: ActionReport {
        var r = self
        r.message = r.message.map { Self.cut($0, Self.maxMessageBytes) }
        r.steps = Array(r.steps.prefix(Self.maxSteps)).map { s in
            var s = s
            s.name = Self.cut(s.name, 256)
            s.error = s.error.map { Self.cut($0, Self.maxMessageBytes) }
            return s
        }
        r.attributes = Dictionary(
            uniqueKeysWithValues: r.attributes.sorted { $0.key < $1.key }.prefix(Self.maxAttributes).map {
                (Self.cut($0.key, 64), Self.cut($0.value, 512))
            })
        if case .captured(let text) = r.console { r.console = .captured(Self.tail(text, Self.maxConsoleBytes)) }
        if case .unavailable(let why) = r.console { r.console = .unavailable(Self.cut(why, 512)) }
        return r
    }

    static func cut(_ s: String, _ limit: Int) -> String {
        guard s.utf8.count > limit else { return s }
        var out = ""
        for ch in s {
            if out.utf8.count + ch.utf8.count > limit - 3 { break }
            out.append(ch)
        }
        return out + "…"
    }

    /// The last `limit` bytes (on a character boundary): a console's newest lines matter.
    static func tail(_ s: String, _ limit: Int) -> String {
        guard s.utf8.count > limit else { return s }
        var chars: [Character] = []
        var size = 0
        for ch in s.reversed() {
            if size + ch.utf8.count > limit { break }
            size += ch.utf8.count
            chars.append(ch)
        }
        return String(chars.reversed())
    }
}

/// One step of an attempt: a fence level, an API call.
public struct StepReport: Hashable, Sendable {
    public var name: String
    public var outcome: Outcome
    public var durationMS: Int
    public var error: String?

    public init(name: String, outcome: Outcome, durationMS: Int, error: String? = nil) {
        self.name = name
        self.outcome = outcome
        self.durationMS = durationMS
        self.error = error
    }
}

/// A serial console capture, or why there is none.
public enum ConsoleCapture: Hashable, Sendable {
    case captured(String)
    case unavailable(String)
}
