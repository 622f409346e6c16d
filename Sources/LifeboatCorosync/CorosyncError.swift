import CCorosync

/// A failed Corosync library call: the `cs_error_t` code and the call's name.
public struct CorosyncError: Error, CustomStringConvertible, Sendable, Equatable {
    public var code: Int
    public var call: String

    public init(code: Int, call: String) {
        self.code = code
        self.call = call
    }

    init(_ error: cs_error_t, _ call: String) { self.init(code: Int(error.rawValue), call: call) }

    /// The local corosync went away (killed or restarted): reconnect or exit.
    public var isDisconnect: Bool {
        code == Int(CS_ERR_LIBRARY.rawValue) || code == Int(CS_ERR_BAD_HANDLE.rawValue)
    }

    public var isTryAgain: Bool { code == Int(CS_ERR_TRY_AGAIN.rawValue) }

    public var name: String {
        switch Int32(code) {
        case Int32(CS_OK.rawValue): "CS_OK"
        case Int32(CS_ERR_LIBRARY.rawValue): "CS_ERR_LIBRARY"
        case Int32(CS_ERR_BAD_HANDLE.rawValue): "CS_ERR_BAD_HANDLE"
        case Int32(CS_ERR_TRY_AGAIN.rawValue): "CS_ERR_TRY_AGAIN"
        case Int32(CS_ERR_INVALID_PARAM.rawValue): "CS_ERR_INVALID_PARAM"
        case Int32(CS_ERR_NOT_EXIST.rawValue): "CS_ERR_NOT_EXIST"
        case Int32(CS_ERR_EXIST.rawValue): "CS_ERR_EXIST"
        case Int32(CS_ERR_TOO_BIG.rawValue): "CS_ERR_TOO_BIG"
        case Int32(CS_ERR_ACCESS.rawValue): "CS_ERR_ACCESS"
        default: "cs_error \(code)"
        }
    }

    public var description: String { "\(call) failed: \(name)" }
}

@inline(__always)
func check(_ error: cs_error_t, _ call: String) throws(CorosyncError) {
    if error != CS_OK { throw CorosyncError(error, call) }
}
