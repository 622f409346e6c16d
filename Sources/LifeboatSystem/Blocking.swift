import Foundation
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
