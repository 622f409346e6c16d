import Foundation
import LifeboatCore
import LifeboatFencing

/// `lifeboat bmc status|test HOST`: asks the host's fence devices, from this node, for the
/// power state (like `fence_ipmilan -o status`): credentials, reachability, what each
/// level answers. Nothing is powered off here.
extension Daemon {
    func bmc(_ request: JSONValue) async -> JSONValue {
        guard case .string(let op) = request["op"] ?? .null, ["status", "test"].contains(op) else {
            return ControlServer.error("bmc needs \"op\": status or test")
        }
        guard case .string(let host) = request["host"] ?? .null, let h = replica?.state.hosts[host] else {
            return ControlServer.error("unknown host '\(JSONWriter.write(request["host"] ?? .null))'")
        }
        guard !h.fencing.levels.isEmpty else {
            return ControlServer.error("no fence device is configured for \(host) (hosts[].fencing.levels)")
        }
        var levels: [JSONValue] = []
        var power: JSONValue = .null
        for (n, level) in h.fencing.levels.enumerated() {
            let start = ContinuousClock.now
            let answer = await level.powerIsOn(host: host)
            let ms = (ContinuousClock.now - start).wholeMilliseconds
            var f: [(String, JSONValue)] = [("level", .int(n + 1)), ("device", .string(level.name)), ("duration_ms", .int(ms))]
            switch answer {
            case .success(let on):
                f += [("ok", .bool(true)), ("power", .string(on ? "on" : "off"))]
                if case .null = power { power = .string(on ? "on" : "off") }
            case .failure(let e): f += [("ok", .bool(false)), ("error", .string(e.message))]
            }
            levels.append(.object(f))
            if op == "status", case .string = power { break }
        }
        let allOK = levels.allSatisfy { $0["ok"] == .bool(true) }
        return .object([
            ("ok", .bool(op == "status" ? power != .null : allOK)), ("host", .string(host)), ("power", power),
            ("levels", .array(levels)),
            ("error", (op == "status" ? power != .null : allOK) ? .null : .string("no fence level of \(host) answered correctly")),
        ])
    }
}
