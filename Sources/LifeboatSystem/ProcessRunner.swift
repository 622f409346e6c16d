import CFreeIPMI
import Foundation
import LifeboatCore
import Synchronization

/// Runs a program in a process group of its own, feeds it stdin, captures stdout and
/// stderr (bounded), and kills the whole group when it runs past its timeout or when it is
/// aborted. Fence agents get their parameters (and secrets) on stdin, never on a command
/// line; OCF agents get an action argument and `OCF_*` variables.
public final class ProcessRunner: Sendable {
    public struct Result: Sendable {
        public var exitCode: Int32?
        public var signal: Int32?
        public var timedOut: Bool
        public var aborted: Bool
        public var stdout: String
        public var stderr: String
        public var durationMS: Int
    }

    public static let outputLimit = 64 * 1024
    /// What every child gets besides what the caller adds.
    public static let baseEnvironment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"]

    public init() {}
    private let pgid = Mutex<pid_t>(0)
    private let abortRequested = Mutex(false)

    /// Kills the running process group (from any thread).
    public func abort() {
        abortRequested.withLock { $0 = true }
        let g = pgid.withLock { $0 }
        if g > 0 { kill(-g, SIGKILL) }
    }

    /// - Parameters:
    ///   - arguments: after the program's path (an OCF action).
    ///   - environment: added to `baseEnvironment`.
    ///   - keepGroup: leave what the program started in its group running after it exits
    ///     (an OCF `start` leaves its daemon behind); otherwise the group is killed.
    ///   - urgent: spawn it from an urgent thread (`Blocking.urgentNice`), whose nice value
    ///     the program inherits: a fence agent.
    public func run(
        _ path: String, arguments: [String] = [], environment: [String] = [], stdin input: String = "", timeout: Double,
        keepGroup: Bool = false, urgent: Bool = false
    ) async -> Result {
        await Blocking.run("agent \((path as NSString).lastPathComponent)", urgent: urgent) {
            self.runBlocking(path, arguments, Self.baseEnvironment + environment, input, timeout, keepGroup)
        }
    }

    private func runBlocking(
        _ path: String, _ arguments: [String], _ environment: [String], _ input: String, _ timeout: Double, _ keepGroup: Bool
    ) -> Result {
        let start = ContinuousClock.now
        var inPipe: [Int32] = [-1, -1]
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        func cloexecPipe(_ p: inout [Int32]) -> Bool {
            guard pipe(&p) == 0 else { return false }
            for fd in p { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            return true
        }
        guard cloexecPipe(&inPipe), cloexecPipe(&outPipe), cloexecPipe(&errPipe) else {
            return Result(exitCode: nil, signal: nil, timedOut: false, aborted: false, stdout: "", stderr: "pipe: \(String(cString: strerror(errno)))", durationMS: 0)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        // The agent inherits nothing else of lifeboatd (the corosync IPC, the control socket,
        // a file another thread is writing).
        lifeboat_spawn_closefrom(&actions, 3)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attr, 0)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attr, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGINT)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        var rc = posix_spawn(&pid, path, &actions, &attr, argv, envp)
        // ETXTBSY: a file just written is still open in a process forked meanwhile.
        for _ in 0..<20 where rc == ETXTBSY {
            usleep(10_000)
            rc = posix_spawn(&pid, path, &actions, &attr, argv, envp)
        }
        for p in argv + envp { free(p) }
        posix_spawn_file_actions_destroy(&actions)
        posix_spawnattr_destroy(&attr)
        close(inPipe[0])
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else {
            close(inPipe[1])
            close(outPipe[0])
            close(errPipe[0])
            return Result(exitCode: nil, signal: nil, timedOut: false, aborted: false, stdout: "", stderr: "cannot run \(path): \(String(cString: strerror(rc)))", durationMS: 0)
        }
        pgid.withLock { $0 = pid }
        if abortRequested.withLock({ $0 }) { kill(-pid, SIGKILL) }
        let bytes = Array(input.utf8)
        _ = bytes.withUnsafeBytes { write(inPipe[1], $0.baseAddress, $0.count) }
        close(inPipe[1])
        // Read both outputs until they close or the deadline passes, or shortly after the
        // program exited (a daemon it left behind may hold the pipes open).
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        var out: [UInt8] = []
        var err: [UInt8] = []
        var open = [outPipe[0], errPipe[0]]
        var timedOut = false
        var chunk = [UInt8](repeating: 0, count: 4096)
        var status: Int32 = 0
        var reaped = false
        var drainUntil: ContinuousClock.Instant? = nil
        while !open.isEmpty {
            let left = deadline - ContinuousClock.now
            let ms = Int32(clamping: left.wholeMilliseconds)
            if ms <= 0 {
                timedOut = !reaped
                kill(-pid, SIGKILL)
                break
            }
            if !reaped, waitpid(pid, &status, WNOHANG) == pid {
                reaped = true
                drainUntil = .now + .milliseconds(100)
            }
            if let d = drainUntil, ContinuousClock.now >= d { break }
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let n = poll(&fds, nfds_t(fds.count), min(ms, reaped ? 20 : 50))
            if n < 0 && errno != EINTR { break }
            for f in fds where f.revents != 0 {
                let r = read(f.fd, &chunk, chunk.count)
                if r <= 0 {
                    open.removeAll { $0 == f.fd }
                    continue
                }
                if f.fd == outPipe[0] {
                    if out.count < Self.outputLimit { out += chunk[0..<min(r, Self.outputLimit - out.count)] }
                } else if err.count < Self.outputLimit {
                    err += chunk[0..<min(r, Self.outputLimit - err.count)]
                }
            }
        }
        close(outPipe[0])
        close(errPipe[0])
        if !reaped { while waitpid(pid, &status, 0) < 0 && errno == EINTR {} }
        // Anything the agent left behind in its group goes too, unless it was meant to stay.
        if !keepGroup || timedOut || abortRequested.withLock({ $0 }) { kill(-pid, SIGKILL) }
        pgid.withLock { $0 = 0 }
        let exited = status & 0x7f == 0
        return Result(
            exitCode: exited ? (status >> 8) & 0xff : nil, signal: exited ? nil : status & 0x7f, timedOut: timedOut,
            aborted: abortRequested.withLock { $0 }, stdout: String(decoding: out, as: UTF8.self),
            stderr: String(decoding: err, as: UTF8.self), durationMS: milliseconds(since: start))
    }
}
