import Foundation
import Synchronization
import LifeboatCore

/// Blocking library calls (FreeIPMI, waitpid) run on a thread of their own, never on the
/// cooperative pool: one hung BMC cannot delay the fencing of another host, nor anything
/// else the daemon does.
public enum Blocking {
    public static func run<T: Sendable>(_ name: String, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (c: CheckedContinuation<T, Never>) in
            let t = Thread { c.resume(returning: body()) }
            t.name = name
            t.start()
        }
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
