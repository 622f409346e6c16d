import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatDaemon

/// Talks to the local lifeboatd over its control socket: one JSON line each way.
enum ControlClient {
    static let defaultSocket = "/run/lifeboat/lifeboatd.sock"

    static func request(_ request: JSONValue, socketPath: String) throws -> JSONValue {
        let fd: Int32
        do { fd = try UnixSocket.connect(to: socketPath) } catch {
            if error.code == EACCES {
                throw fail(
                    "permission denied on \(socketPath): lifeboat commands need root, or a member of lifeboatd's control_group",
                    code: 1)
            }
            throw fail("cannot reach lifeboatd (\(error)): is lifeboatd running on this host?", code: 1)
        }
        defer { close(fd) }
        UnixSocket.setTimeouts(fd, seconds: 30)  // lifeboatd answers within its own 10 s bound
        guard UnixSocket.writeAll(fd, Array((JSONWriter.write(request) + "\n").utf8)) else {
            throw fail("write to lifeboatd failed", code: 1)
        }
        let line = UnixSocket.readLine(fd, limit: 64 << 20) ?? []
        do { return try JSONParser.parse(bytes: line) } catch {
            throw fail("lifeboatd sent an unreadable answer: \(error)", code: 1)
        }
    }

    /// Sends a request and fails with lifeboatd's message when it answers `ok: false`.
    static func call(_ request: JSONValue, socketPath: String) throws -> JSONValue {
        let response = try self.request(request, socketPath: socketPath)
        guard case .bool(true) = response["ok"] ?? .null else {
            if case .string(let why) = response["error"] ?? .null { throw fail(why, code: 1) }
            throw fail("lifeboatd refused the request", code: 1)
        }
        return response
    }
}

/// `--socket PATH`, shared by every command that talks to lifeboatd.
struct SocketOption: ParsableArguments {
    @Option(name: .customLong("socket"), help: "lifeboatd's control socket.")
    var path: String = ControlClient.defaultSocket
}
