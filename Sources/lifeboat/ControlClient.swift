import ArgumentParser
import Foundation
import LifeboatCore

/// Talks to the local lifeboatd over its control socket: one JSON line each way.
enum ControlClient {
    static let defaultSocket = "/run/lifeboat/lifeboatd.sock"

    static func request(_ request: JSONValue, socketPath: String) throws -> JSONValue {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw fail("socket: \(String(cString: strerror(errno)))", code: 1) }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        guard socketPath.utf8.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw fail("socket path too long", code: 2) }
        withUnsafeMutableBytes(of: &addr.sun_path) { buf in
            for (i, b) in socketPath.utf8.enumerated() { buf[i] = b }
        }
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            throw fail("cannot reach lifeboatd at \(socketPath): \(String(cString: strerror(errno))) (is lifeboatd running on this host?)", code: 1)
        }
        let out = Array((JSONWriter.write(request) + "\n").utf8)
        var sent = 0
        while sent < out.count {
            let n = out[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw fail("write to lifeboatd failed", code: 1) }
            sent += n
        }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !buffer.contains(10) {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            buffer.append(contentsOf: chunk[0..<n])
        }
        do { return try JSONParser.parse(bytes: Array(buffer.prefix { $0 != 10 })) } catch {
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
