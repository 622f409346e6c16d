import Dispatch
import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

@testable import LifeboatOpenStack

@Suite struct HTTPClientTests {
    /// Found by `lab chaos --nova` (seed 1): a leader that cancelled its Nova requests as they
    /// failed hung for good inside URLSession's own cancellation (swift-corelibs-foundation
    /// issue 5412). Here 3,000 requests to a closed loopback port are cancelled around the
    /// moment their connection is refused: every caller is answered (the stock
    /// `URLSession.data(for:)` deadlocks within the first 500 on this toolchain).
    @Test func test_requestsCancelledAsTheyFail_areAllAnswered_noHangNoCrash() async {
        let client = HTTPClient(timeout: 5, attempts: 1)
        let done = DispatchSemaphore(value: 0)
        let counts = Task.detached { () -> (cancelled: Int, failed: Int) in
            var cancelled = 0, failed = 0
            for i in 0..<3000 {
                let t = Task.detached { () -> String? in
                    do {
                        _ = try await client.send("GET", "http://127.0.0.1:9/", call: "test")
                        return nil
                    } catch { return (error as? OpenStackError)?.message }
                }
                try? await Task.sleep(for: .microseconds((i * 37) % 400))
                t.cancel()
                switch await t.value {
                case "cancelled": cancelled += 1
                default: failed += 1
                }
            }
            done.signal()
            return (cancelled, failed)
        }
        let finished = await withCheckedContinuation { c in
            DispatchQueue.global().async { c.resume(returning: done.wait(timeout: .now() + 120) == .success) }
        }
        #expect(finished, "cancelled requests hung")
        guard finished else { return }
        let n = await counts.value
        #expect(n.cancelled + n.failed == 3000)
        #expect(n.cancelled > 0, "some were cancelled before their refusal")
    }

    /// A request whose task was cancelled before it began is never sent.
    @Test func test_aRequestOfACancelledTask_isAnsweredCancelled() async {
        let client = HTTPClient(timeout: 5, attempts: 1)
        let t = Task { () -> String? in
            while !Task.isCancelled { await Task.yield() }
            do {
                _ = try await HTTPClient.fetch(client.session, URLRequest(url: URL(string: "http://127.0.0.1:9/")!))
                return nil
            } catch { return HTTPClient.describe(error) }
        }
        t.cancel()
        #expect(await t.value == "cancelled")
    }
}
