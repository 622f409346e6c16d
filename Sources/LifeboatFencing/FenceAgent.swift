import Foundation
import LifeboatCore
import LifeboatSystem

/// A stock fence agent (Debian's `fence-agents`: `fence_ipmilan`, …) driven through the
/// fence-agents stdin protocol: one `key=value` a line (`action=off`, the configured
/// parameters, `password=` read from the password file), exit status 0 = success; for
/// `status`, 0 = on and 2 = off. The agent runs in its own process group, killed on timeout.
public struct FenceAgent: Sendable {
    public let settings: AgentSettings
    public let host: String
    public let timeout: Double
    let runner = ProcessRunner()

    public init(_ settings: AgentSettings, host: String, timeout: Double) {
        self.settings = settings
        self.host = host
        self.timeout = timeout
    }

    static let searchPath = ["/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin", "/usr/local/bin"]

    /// The agent's executable.
    func executable() throws(FenceError) -> String {
        if settings.agent.hasPrefix("/") {
            guard access(settings.agent, X_OK) == 0 else { throw FenceError("fence agent \(settings.agent) is not executable") }
            return settings.agent
        }
        for dir in Self.searchPath where access(dir + "/" + settings.agent, X_OK) == 0 { return dir + "/" + settings.agent }
        throw FenceError("fence agent \(settings.agent) not found in \(Self.searchPath.joined(separator: ":")) (Debian: apt-get install fence-agents)")
    }

    struct Run: Sendable {
        var exitCode: Int32?
        var error: String?
        var timedOut: Bool
        var aborted: Bool
        var durationMS: Int
    }

    /// Runs the agent for `action` (`off`, `status`, `on`, `monitor`).
    func run(_ action: String, within seconds: Double? = nil) async -> Run {
        let path: String
        var input = "action=\(action)\n"
        var secret: String? = nil
        do {
            path = try executable()
            if let file = settings.passwordFile { secret = try PasswordFile.read(file) }
        } catch { return Run(exitCode: nil, error: error.message, timedOut: false, aborted: false, durationMS: 0) }
        for key in settings.parameters.keys.sorted() { input += "\(key)=\(settings.parameters[key]!)\n" }
        if let secret { input += "password=\(secret)\n" }
        let r = await runner.run(path, stdin: input, timeout: seconds ?? timeout, urgent: true)
        // An agent may echo what it was given: its output never reaches a log with the secret.
        func clean(_ s: String) -> String {
            var t = s.trimmingCharacters(in: .whitespacesAndNewlines)
            if let secret, !secret.isEmpty { t = t.replacingOccurrences(of: secret, with: "****") }
            return String(t.suffix(2000))
        }
        var error: String? = nil
        if r.timedOut {
            error = "\(settings.agent) \(action) for \(host) ran past \(seconds ?? timeout) s: its process group was killed"
        } else if r.exitCode != 0 {
            let why = clean(r.stderr).isEmpty ? clean(r.stdout) : clean(r.stderr)
            let how = r.exitCode.map { "exit status \($0)" } ?? "signal \(r.signal ?? 0)"
            error = "\(settings.agent) \(action) for \(host): \(how)\(why.isEmpty ? "" : ": \(why)")"
        }
        return Run(exitCode: r.exitCode, error: error, timedOut: r.timedOut, aborted: r.aborted, durationMS: r.durationMS)
    }

    public func abort() { runner.abort() }
}

extension FenceAgent {
    /// The agent's `status` action: true for on, false for off.
    public func powerIsOn() async -> Result<Bool, FenceError> {
        let r = await run("status")
        switch r.exitCode {
        case 0?: return .success(true)
        case 2?: return .success(false)
        default: return .failure(FenceError(r.error ?? "\(settings.agent) status failed", timedOut: r.timedOut))
        }
    }
}

extension FenceDevice {
    /// This level's view of the host's power (`lifeboat bmc status|test`).
    public func powerIsOn(host: String) async -> Result<Bool, FenceError> {
        switch kind {
        case .ipmi(let s): await IPMIDevice(s, host: host, timeout: timeout).powerIsOn()
        case .agent(let a): await FenceAgent(a, host: host, timeout: timeout).powerIsOn()
        }
    }
}
