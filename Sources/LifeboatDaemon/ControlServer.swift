import Foundation
import LifeboatCore

/// The local control socket: one JSON request per line, one JSON response per line. A
/// thread accepts connections (the CLI is the only client and connections are short), and
/// each request is answered by the daemon actor.
public final class ControlServer: Sendable {
    public let path: String
    private let listenFD: Int32
    public typealias Handler = @Sendable (JSONValue) async -> JSONValue

    /// Largest request accepted (a cluster configuration fits easily).
    public static let maxRequestBytes = 4 << 20

    public init(path: String, handler: @escaping Handler) throws {
        self.path = path
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        unlink(path)
        listenFD = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listenFD >= 0 else { throw ScenarioError(path, "socket: \(String(cString: strerror(errno)))") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { buf in
            for (i, b) in path.utf8.prefix(buf.count - 1).enumerated() { buf[i] = b }
        }
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listenFD, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard ok == 0, listen(listenFD, 16) == 0 else {
            let why = String(cString: strerror(errno))
            Glibc.close(listenFD)
            throw ScenarioError(path, "bind/listen: \(why)")
        }
        chmod(path, 0o600)
        let fd = listenFD
        let thread = Thread {
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 {
                    if errno == EINTR { continue }
                    return
                }
                let t = Thread { ControlServer.serve(client, handler) }
                t.start()
            }
        }
        thread.name = "control-accept"
        thread.start()
    }

    public func close() {
        shutdown(listenFD, Int32(SHUT_RDWR))
        Glibc.close(listenFD)
        unlink(path)
    }

    static func serve(_ fd: Int32, _ handler: @escaping Handler) {
        defer { Glibc.close(fd) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !buffer.contains(10) {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            buffer.append(contentsOf: chunk[0..<n])
            if buffer.count > maxRequestBytes { break }
        }
        let line = Array(buffer.prefix { $0 != 10 })
        let response: JSONValue
        if buffer.count > maxRequestBytes {
            response = ControlServer.error("request larger than \(maxRequestBytes) bytes")
        } else {
            do {
                let request = try JSONParser.parse(bytes: line)
                let box = ResponseBox()
                let done = DispatchSemaphore(value: 0)
                Task {
                    box.set(await handler(request))
                    done.signal()
                }
                done.wait()
                response = box.get()
            } catch {
                response = ControlServer.error("invalid JSON request at \(error)")
            }
        }
        let out = Array((JSONWriter.write(response) + "\n").utf8)
        var sent = 0
        while sent < out.count {
            let n = out[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            sent += n
        }
    }

    public static func error(_ message: String) -> JSONValue { .object([("ok", .bool(false)), ("error", .string(message))]) }
}

/// Hands a response from the async handler back to the connection's thread.
final class ResponseBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: JSONValue = .null
    func set(_ v: JSONValue) { lock.lock(); value = v; lock.unlock() }
    func get() -> JSONValue { lock.lock(); defer { lock.unlock() }; return value }
}
