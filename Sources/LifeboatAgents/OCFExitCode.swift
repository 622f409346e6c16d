/// The exit codes of the OCF resource-agent standard, and what Pacemaker does with each:
/// Lifeboat does the same, so an operator's agents behave as they did under Pacemaker.
public enum OCFExitCode: Int32, Sendable, CaseIterable {
    case success = 0
    case genericError = 1
    case invalidArguments = 2
    case unimplemented = 3
    case insufficientPermissions = 4
    case notInstalled = 5
    case notConfigured = 6
    case notRunning = 7
    case runningPromoted = 8
    case failedPromoted = 9

    /// How bad a failure is (Pacemaker's soft, hard and fatal errors).
    public enum Severity: String, Sendable {
        /// Not a failure.
        case none
        /// Restart in place (counts toward the restart limit).
        case soft
        /// Restarting on this host cannot help (bad arguments, missing software, no
        /// permission, action not implemented): the resource is blocked here.
        case hard
        /// The configuration itself is wrong (`OCF_ERR_CONFIGURED`): blocked.
        case fatal
    }

    /// Severity of this code as the answer to `action` (for `monitor`, `not running` is the
    /// failure it detects; for `stop`, it is success).
    public func severity(for action: String) -> Severity {
        switch self {
        case .success: return .none
        case .notRunning: return action == "stop" || action == "probe" ? .none : .soft
        case .genericError, .failedPromoted: return .soft
        case .runningPromoted: return action == "monitor" ? .none : .soft
        case .invalidArguments, .unimplemented, .insufficientPermissions, .notInstalled: return .hard
        case .notConfigured: return .fatal
        }
    }

    public var name: String {
        switch self {
        case .success: "OCF_SUCCESS"
        case .genericError: "OCF_ERR_GENERIC"
        case .invalidArguments: "OCF_ERR_ARGS"
        case .unimplemented: "OCF_ERR_UNIMPLEMENTED"
        case .insufficientPermissions: "OCF_ERR_PERM"
        case .notInstalled: "OCF_ERR_INSTALLED"
        case .notConfigured: "OCF_ERR_CONFIGURED"
        case .notRunning: "OCF_NOT_RUNNING"
        case .runningPromoted: "OCF_RUNNING_PROMOTED"
        case .failedPromoted: "OCF_FAILED_PROMOTED"
        }
    }
}
