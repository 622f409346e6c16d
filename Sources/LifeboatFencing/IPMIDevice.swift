import Foundation
import LifeboatCore
import LifeboatSystem

/// A host's BMC as a fence device: status, off (confirmed by polling), on, cycle. Each
/// operation opens its own RMCP+ session on a thread of its own, with bounded retries and
/// timeouts; "off" is never assumed from the command's reply, only from the chassis status.
public struct IPMIDevice: Sendable {
    public let settings: IPMISettings
    public let host: String
    /// The whole operation's bound, in seconds.
    public let timeout: Double

    public init(_ settings: IPMISettings, host: String, timeout: Double) {
        self.settings = settings
        self.host = host
        self.timeout = timeout
    }

    var label: String { "BMC \(settings.address):\(settings.port) of \(host)" }

    /// Session timeout per try: the whole bound shared by the tries, at most 5 s each.
    var sessionMS: Int { max(500, min(5000, Int(timeout * 1000) / max(1, settings.retries))) }

    /// Opens a session, retrying connection failures up to `settings.retries` times.
    func session(_ password: String) throws(FenceError) -> IPMI.Session {
        var last = FenceError("\(label): no attempt")
        for _ in 0..<settings.retries {
            do { return try IPMI.Session(settings, password: password, host: host, sessionMS: sessionMS, retransmissionMS: 250) } catch {
                last = error
                if !error.timedOut { break }  // wrong password, unsupported cipher: retrying will not help
            }
        }
        throw last
    }

    /// Whether the chassis reports power on.
    public func powerIsOn() async -> Result<Bool, FenceError> {
        let me = self
        return await Blocking.run("ipmi-status \(host)", urgent: true) {
            Result { () throws(FenceError) in
                let password = try PasswordFile.read(me.settings.passwordFile)
                return try me.session(password).powerIsOn()
            }
        }
    }

    /// What a power-off did.
    public struct OffResult: Sendable {
        public var outcome: Outcome
        public var error: String?
        /// The chassis already reported off before any command was sent.
        public var wasOff = false
    }

    /// Powers the host off and confirms it by polling the chassis status until it reports
    /// off (bounded by `timeout`). `check` is called right before the power-off command:
    /// a non-nil answer (why this node may not act) stops before anything irreversible.
    public func powerOff(check: @escaping @Sendable () -> String?) async -> OffResult {
        let me = self
        return await Blocking.run("ipmi-off \(host)", urgent: true) { me.powerOffBlocking(check: check) }
    }

    func powerOffBlocking(check: @Sendable () -> String?) -> OffResult {
        let start = ContinuousClock.now
        let deadline = start + .milliseconds(Int(timeout * 1000))
        // Where the time goes, logged once per power-off: the session, the first status,
        // the command, the confirmation (what to look at when a fence is slow).
        var timings: [String] = []
        var mark = start
        func lap(_ what: String) {
            timings.append("\(what) \(milliseconds(since: mark)) ms")
            mark = .now
        }
        defer { Log.info("\(label): power-off took \(milliseconds(since: start)) ms (\(timings.joined(separator: ", ")))") }
        do {
            let password = try PasswordFile.read(settings.passwordFile)
            let s = try session(password)
            lap("session")
            if try !s.powerIsOn() { return OffResult(outcome: .off, wasOff: true) }
            lap("status")
            if let why = check() { return OffResult(outcome: .cancelled, error: why) }
            lap("leadership check")
            var sent = false
            var lastError: FenceError? = nil
            for _ in 0..<settings.retries where !sent {
                do {
                    try s.control(.powerDown)
                    sent = true
                } catch { lastError = error }
            }
            lap(sent ? "power-off command" : "power-off command (no reply)")
            // Confirm: poll the chassis status until it says off. A lost reply to the
            // command does not matter; only the status counts.
            var polls = 0
            while ContinuousClock.now < deadline {
                polls += 1
                if let on = try? s.powerIsOn(), !on {
                    lap("confirmed off by \(polls) status poll\(polls == 1 ? "" : "s")")
                    return OffResult(outcome: .off)
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
            lap("\(polls) status polls still on")
            let why = lastError.map { " (\($0))" } ?? ""
            return OffResult(outcome: .timeout, error: "\(label): still on \(timeout) s after the power-off\(why)")
        } catch {
            lap("failed")
            return OffResult(outcome: error.timedOut ? .timeout : .failed, error: error.message)
        }
    }

    /// Power on (an operator's repair) or cycle.
    public func control(on: Bool) async -> Result<Void, FenceError> {
        let me = self
        return await Blocking.run("ipmi-control \(host)") {
            Result { () throws(FenceError) in
                let password = try PasswordFile.read(me.settings.passwordFile)
                try me.session(password).control(on ? .powerUp : .powerCycle)
            }
        }
    }
}
