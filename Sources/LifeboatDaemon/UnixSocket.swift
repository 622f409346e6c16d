import Foundation

/// The few POSIX calls the control socket needs, shared by lifeboatd (server) and the
/// `lifeboat` CLI (client): errors carry the call and `strerror`.
public enum UnixSocket {
    public struct Failure: Error, CustomStringConvertible {
        public var call: String
        public var reason: String
        /// The errno of the failed call (0 when it was not a system call's failure).
        public var code: Int32
        public var description: String { "\(call): \(reason)" }
        init(_ call: String) {
            self.call = call
            code = errno
            reason = String(cString: strerror(code))
        }
    }

    static func address(_ path: String) throws(Failure) -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        guard path.utf8.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            var f = Failure("socket path")
            f.reason = "longer than \(MemoryLayout.size(ofValue: addr.sun_path) - 1) bytes"
            f.code = 0
            throw f
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { buf in
            for (i, b) in path.utf8.enumerated() { buf[i] = b }
        }
        return addr
    }

    static func withAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) throws(Failure) -> Int32 {
        var addr = try address(path)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    /// A listening socket at `path` (an old socket file there is replaced).
    public static func listen(at path: String, backlog: Int32 = 16) throws(Failure) -> Int32 {
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure("socket") }
        let bound = try withAddress(path) { bind(fd, $0, $1) }
        guard bound == 0 else { defer { close(fd) }; throw Failure("bind \(path)") }
        guard Glibc.listen(fd, backlog) == 0 else { defer { close(fd) }; throw Failure("listen \(path)") }
        return fd
    }

    public static func connect(to path: String) throws(Failure) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure("socket") }
        let connected = try withAddress(path) { Glibc.connect(fd, $0, $1) }
        guard connected == 0 else { defer { close(fd) }; throw Failure("connect \(path)") }
        return fd
    }

    /// Whether a process listens at `path`: a connection is taken, or its queue is full
    /// (a listener that does not accept: the probe never blocks on it, as a blocking connect
    /// would). No socket there, or none listening: false.
    public static func isListening(at path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard let r = try? withAddress(path, { Glibc.connect(fd, $0, $1) }) else { return false }
        return r == 0 || errno == EAGAIN || errno == EINPROGRESS
    }

    /// Bounds how long a read or write on `fd` may block.
    public static func setTimeouts(_ fd: Int32, seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Writes all of `bytes`; false if the peer went away.
    @discardableResult
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            // MSG_NOSIGNAL: a peer that went away is an error here, not a SIGPIPE.
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            sent += n
        }
        return true
    }

    /// Reads up to the first newline (not included), at most `limit` bytes; nil when the
    /// line is longer than that.
    public static func readLine(_ fd: Int32, limit: Int) -> [UInt8]? {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            // Only the new bytes are searched: a large request must not cost n² scans.
            if let nl = chunk[0..<n].firstIndex(of: 10) {
                buffer.append(contentsOf: chunk[0..<nl])
                break
            }
            buffer.append(contentsOf: chunk[0..<n])
            if buffer.count > limit { return nil }
        }
        return buffer.count > limit ? nil : buffer
    }
}
