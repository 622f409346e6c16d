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
        do { listenFD = try UnixSocket.listen(at: path) } catch { throw ScenarioError(path, error.description) }
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
        let line = UnixSocket.readLine(fd, limit: maxRequestBytes)
        let response: JSONValue
        if let line {
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
        } else {
            response = ControlServer.error("request larger than \(maxRequestBytes) bytes")
        }
        UnixSocket.writeAll(fd, Array((JSONWriter.write(response) + "\n").utf8))
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
