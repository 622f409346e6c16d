import CFreeIPMI
import Foundation
import Synchronization
import LifeboatCore

/// Blocking library calls (FreeIPMI, waitpid) run on a thread of their own, never on the
/// cooperative pool: one hung BMC cannot delay the fencing of another host, nor anything
/// else the daemon does.
public enum Blocking {
    /// The nice value of an urgent thread: the power-off of a lost host and its
    /// confirmation are what the whole recovery waits for, so on a busy machine (operator
    /// commands, API load) their thread gets a core before the daemon's other work.
    public static let urgentNice: Int32 = -10

    /// - Parameter urgent: run `body` at `urgentNice` (a Linux thread has a nice value of
    ///   its own). Without the privilege to raise it, it runs at the daemon's.
    public static func run<T: Sendable>(_ name: String, urgent: Bool = false, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (c: CheckedContinuation<T, Never>) in
            let t = Thread {
                if urgent { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(lifeboat_gettid()), urgentNice) }
                c.resume(returning: body())
            }
            t.name = name
            t.start()
        }
    }

    /// The nice value of the calling thread.
    public static func currentNice() -> Int32 {
        errno = 0
        return getpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(lifeboat_gettid()))
    }
}

/// Milliseconds since `start` on the monotonic clock.
public func milliseconds(since start: ContinuousClock.Instant) -> Int { (ContinuousClock.now - start).wholeMilliseconds }

/// The value of `task` if it ends within `seconds`, else nil, returned on time either way.
///
/// A task group cannot do this: it waits for all of its children, and a child awaiting
/// another task's value does not end when cancelled, so a hung task would hold the caller.
public func value<T: Sendable>(of task: Task<T, Never>, within seconds: Double) async -> T? {
    let answer = FirstAnswer<T?>()
    return await withCheckedContinuation { (c: CheckedContinuation<T?, Never>) in
        answer.wait(c)
        Task.detached { answer.give(await task.value) }
        Task.detached {
            try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            answer.give(nil)
        }
    }
}

/// A continuation resumed by whichever answer comes first; later answers are dropped.
final class FirstAnswer<T: Sendable>: Sendable {
    private let waiting = Mutex<CheckedContinuation<T, Never>?>(nil)

    func wait(_ c: CheckedContinuation<T, Never>) { waiting.withLock { $0 = c } }

    func give(_ value: T) { waiting.withLock { $0.take() }?.resume(returning: value) }
}
