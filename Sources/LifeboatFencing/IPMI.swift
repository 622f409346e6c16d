import CFreeIPMI
import Foundation
import LifeboatCore

/// Out-of-band IPMI 2.0 (lanplus) through libfreeipmi, in-process: power status, off, on,
/// cycle. Every call is blocking and runs on a thread of its own (`IPMIDevice`).
enum IPMI {
    /// FreeIPMI's chassis control values.
    enum Control: UInt8 {
        case powerDown = 0
        case powerUp = 1
        case powerCycle = 2
    }

    static let workaroundBits: [String: UInt32] = [
        "authcap": 0x01, "intel20": 0x02, "supermicro20": 0x04, "sun20": 0x08, "opensesspriv": 0x10,
        "integritycheckvalue": 0x20, "nochecksumcheck": 0x40,
    ]

    static let consoleWorkaroundBits: [String: UInt32] = [
        "authcap": 0x01, "intel20": 0x02, "supermicro20": 0x04, "sun20": 0x08, "opensesspriv": 0x10,
        "integritycheckvalue": 0x20, "nochecksumcheck": 0x40, "solpayloadsize": 0x0100_0000, "solport": 0x0200_0000,
        "solchannelsupport": 0x0800_0000,
    ]

    static func flags(_ names: [String], _ table: [String: UInt32]) -> UInt32 {
        names.reduce(0) { $0 | (table[$1] ?? 0) }
    }

    static func privilege(_ p: IPMIPrivilege) -> UInt8 {
        switch p {
        case .user: 0x02
        case .operator: 0x03
        case .admin: 0x04
        }
    }

    /// One RMCP+ session with a BMC. Not thread-safe: used by one thread.
    final class Session {
        private var ctx: ipmi_ctx_t?
        let where_: String

        /// - Parameters: session/retransmission timeouts in milliseconds.
        init(_ s: IPMISettings, password: String, host: String, sessionMS: Int, retransmissionMS: Int) throws(FenceError) {
            where_ = "BMC \(s.address):\(s.port) of \(host)"
            guard let c = ipmi_ctx_create() else { throw FenceError("\(where_): out of memory") }
            ctx = c
            let hostname = s.port == 623 ? s.address : "\(s.address):\(s.port)"
            let rv = ipmi_ctx_open_outofband_2_0(
                c, hostname, s.username, password, nil, 0, IPMI.privilege(s.privilege), UInt8(s.cipherSuite),
                UInt32(sessionMS), UInt32(retransmissionMS), IPMI.flags(s.workarounds, IPMI.workaroundBits), 0)
            if rv < 0 {
                let error = failure("session")
                ipmi_ctx_destroy(c)
                ctx = nil
                throw error
            }
        }

        deinit {
            if let ctx {
                ipmi_ctx_close(ctx)
                ipmi_ctx_destroy(ctx)
            }
        }

        /// The error of the last call, with its step; FreeIPMI's messages name no secret.
        func failure(_ step: String) -> FenceError {
            let n = ipmi_ctx_errnum(ctx)
            let text = String(cString: ipmi_ctx_errormsg(ctx))
            let timedOut = n == Int32(IPMI_ERR_SESSION_TIMEOUT.rawValue) || n == Int32(IPMI_ERR_CONNECTION_TIMEOUT.rawValue)
            return FenceError("\(where_): \(step): \(text)", timedOut: timedOut)
        }

        func powerIsOn() throws(FenceError) -> Bool {
            let s = lifeboat_ipmi_power_state(ctx)
            guard s >= 0 else { throw failure("get chassis status") }
            return s == 1
        }

        func control(_ c: Control) throws(FenceError) {
            guard lifeboat_ipmi_chassis_control(ctx, c.rawValue) == 0 else { throw failure("chassis control \(c)") }
        }
    }
}
