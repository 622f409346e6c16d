import Foundation
import LifeboatCore
import LifeboatSystem

/// One OCF resource agent on this host, run the way Pacemaker's executor runs it: the
/// action as the only argument, `OCF_ROOT`, `OCF_RESOURCE_INSTANCE`/`_TYPE`/`_PROVIDER`,
/// `OCF_RESKEY_<param>` and `OCF_RESKEY_CRM_meta_timeout`/`_interval` (milliseconds) in the
/// environment, in a process group of its own that is killed whole on timeout.
public struct OCFAgent: Sendable {
    public static let defaultRoot = "/usr/lib/ocf"
    /// Pacemaker's default operation timeout when neither the configuration nor the
    /// agent's meta-data gives one.
    public static let defaultTimeout: Double = 20

    public let root: String
    public let provider: String
    public let type: String
    public var path: String { "\(root)/resource.d/\(provider)/\(type)" }

    /// Finds `ocf:PROVIDER:TYPE` under `root`.
    public init(_ name: String, root: String = OCFAgent.defaultRoot) throws(OCFError) {
        guard let n = Resource.ocfName(name) else { throw .badName(name) }
        self.root = root
        self.provider = n.provider
        self.type = n.type
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw .notFound("agent \(name) not found: \(path) is not an executable file (is the package installed? OCF_ROOT=\(root))")
        }
    }

    /// The result of one action.
    public struct Result: Sendable {
        public var action: String
        /// The agent's exit code (nil: killed by a signal or not started).
        public var exitCode: Int32?
        public var timedOut: Bool
        public var aborted: Bool
        public var durationMS: Int
        /// stdout and stderr, each bounded.
        public var stdout: String
        public var stderr: String

        public var code: OCFExitCode? { exitCode.flatMap(OCFExitCode.init(rawValue:)) }

        /// Severity as Pacemaker counts it: a timeout or a kill is a soft failure, an exit
        /// code outside the standard is a generic error.
        public var severity: OCFExitCode.Severity {
            if timedOut || exitCode == nil { return .soft }
            return (code ?? .genericError).severity(for: action)
        }

        /// One line for people: the code's name, and the agent's last words.
        public var summary: String {
            var s: String
            if aborted {
                s = "\(action) aborted"
            } else if timedOut {
                s = "\(action) timed out after \(durationMS) ms (process group killed)"
            } else if let exitCode {
                s = "\(action) exited \(exitCode) (\(code?.name ?? "not an OCF code"))"
            } else {
                s = "\(action) killed by a signal"
            }
            let tail = OCFAgent.lastLine(stderr) ?? OCFAgent.lastLine(stdout)
            if let tail, severity != .none { s += ": \(tail)" }
            return s
        }
    }

    /// Runs `action` for a resource instance.
    public func run(
        _ action: String, instance: String, params: [String: String], timeout: Double, interval: Double = 0,
        runner: ProcessRunner = ProcessRunner()
    ) async -> Result {
        let env = environment(action: action, instance: instance, params: params, timeout: timeout, interval: interval)
        let r = await runner.run(path, arguments: [action], environment: env, timeout: timeout, keepGroup: action == "start")
        return Result(
            action: action, exitCode: r.exitCode, timedOut: r.timedOut, aborted: r.aborted, durationMS: r.durationMS,
            stdout: r.stdout, stderr: r.stderr)
    }

    func environment(action: String, instance: String, params: [String: String], timeout: Double, interval: Double) -> [String] {
        var env = [
            "OCF_ROOT=\(root)", "OCF_FUNCTIONS_DIR=\(root)/lib/heartbeat", "OCF_RA_VERSION_MAJOR=1", "OCF_RA_VERSION_MINOR=1",
            "OCF_RESOURCE_INSTANCE=\(instance)", "OCF_RESOURCE_TYPE=\(type)", "OCF_RESOURCE_PROVIDER=\(provider)",
            "OCF_RESKEY_CRM_meta_timeout=\(Int(timeout * 1000))", "OCF_RESKEY_CRM_meta_interval=\(Int(interval * 1000))",
            "OCF_RESKEY_CRM_meta_name=\(action)", "HA_LOGTAG=lifeboat-\(instance)",
        ]
        for k in params.keys.sorted() { env.append("OCF_RESKEY_\(k)=\(params[k]!)") }
        return env
    }

    /// `meta-data`, parsed.
    public func metadata(timeout: Double = 10) async throws(OCFError) -> OCFMetadata {
        let r = await run("meta-data", instance: type, params: [:], timeout: timeout)
        guard r.exitCode == 0 else { throw .badMetadata(r.summary) }
        return try OCFMetadata.parse(r.stdout)
    }

    static func lastLine(_ s: String) -> String? {
        s.split(whereSeparator: \.isNewline).last.map { String($0.prefix(300)) }
    }
}
