import Foundation
import Synchronization
import LifeboatCore
import LifeboatSystem

/// The local control socket: one JSON request per line, one JSON response per line. A
/// thread accepts connections (the CLI is the only client and connections are short), and
/// each request is answered by the daemon actor.
public final class ControlServer: Sendable {
    public let path: String
    private let listenFD: Int32
    public typealias Handler = @Sendable (JSONValue) async -> JSONValue

    /// Largest request accepted (a cluster configuration fits easily).
    public static let maxRequestBytes = 96 << 20
    /// Connections served at once (a thread each); one more is answered "busy" at once.
    public static let maxConnections = 64
    /// How long a socket taken by another process is asked again before this daemon gives
    /// up (a killed lifeboatd still exiting releases it within that).
    public static let previousDaemonExit: Duration = .seconds(5)

    /// `group`: a Unix group whose members may connect too (the socket is then mode 0660
    /// and belongs to it); without one, only the daemon's user (root) can (mode 0600).
    public init(path: String, group: String? = nil, handler: @escaping Handler) throws {
        self.path = path
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        // A lifeboatd killed a moment ago may hold the socket a little longer: SIGKILL makes
        // its main thread a zombie at once, but its files close only when its last thread has
        // exited (one may be in an fsync). Its successor, started at once (the lab's
        // `lifeboatd start` right after `kill-process`), found the socket still taken and
        // refused to run. So a socket that still takes connections is asked again for a
        // while; one that does for all of it belongs to a live lifeboatd.
        let deadline = ContinuousClock.now + Self.previousDaemonExit
        while UnixSocket.isListening(at: path) {
            guard ContinuousClock.now < deadline else {
                throw ScenarioError(path, "another lifeboatd is already answering on this socket")
            }
            usleep(100_000)
        }
        do { listenFD = try UnixSocket.listen(at: path) } catch { throw ScenarioError(path, error.description) }
        if let group {
            guard let gr = getgrnam(group) else { throw ScenarioError("control_group", "no group '\(group)' on this host") }
            guard chown(path, geteuid(), gr.pointee.gr_gid) == 0, chmod(path, 0o660) == 0 else {
                throw ScenarioError(path, "cannot give the socket to group \(group): \(String(cString: strerror(errno)))")
            }
        } else {
            chmod(path, 0o600)
        }
        let fd = listenFD
        let thread = Thread {
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 {
                    if errno == EBADF || errno == EINVAL { return }  // closed at shutdown
                    if errno != EINTR {
                        // Out of fds or memory, or a client gone before accept: keep serving.
                        Log.warning("control socket: accept: \(String(cString: strerror(errno)))")
                        usleep(100_000)
                    }
                    continue
                }
                // A client that sends nothing must not hold a thread for ever.
                UnixSocket.setTimeouts(client, seconds: 30)
                guard ControlServer.active.add(1, ordering: .relaxed).newValue <= ControlServer.maxConnections else {
                    ControlServer.active.subtract(1, ordering: .relaxed)
                    // One thread answers every refused client: it reads the request (so the
                    // client's write does not fail on a closed socket), then says busy.
                    UnixSocket.setTimeouts(client, seconds: 1)
                    ControlServer.rejecter.async {
                        _ = UnixSocket.readLine(client, limit: 64 << 10)
                        let busy = JSONValue.object([
                            ("ok", .bool(false)),
                            ("error", .string("busy: \(ControlServer.maxConnections) requests are being served; retry in a moment")),
                        ])
                        _ = UnixSocket.writeAll(client, Array((JSONWriter.write(busy) + "\n").utf8))
                        Glibc.close(client)
                    }
                    continue
                }
                let t = Thread {
                    ControlServer.serve(client, handler)
                    ControlServer.active.subtract(1, ordering: .relaxed)
                }
                t.start()
            }
        }
        thread.name = "control-accept"
        thread.start()
    }

    /// Connections being served now (all sockets of the process: there is one).
    static let active = Atomic<Int>(0)
    /// Answers the clients refused as busy, one at a time (a bounded cost: one thread).
    static let rejecter = DispatchQueue(label: "control-busy")

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
final class ResponseBox: Sendable {
    private let value = Mutex<JSONValue>(.null)
    func set(_ v: JSONValue) { value.withLock { $0 = v } }
    func get() -> JSONValue { value.withLock { $0 } }
}
