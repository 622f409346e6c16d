import Synchronization
import Testing

@testable import LifeboatOpenStack

/// An evacuation request is awaited to its end even when its attempt is cancelled, so the
/// next attempt cannot overtake it (`lab chaos --nova`, seed 24).
@Suite struct ToItsEndTests {
    @Test func test_aCancelledCaller_returnsOnlyOnceTheBodyHasEnded() async {
        let ended = Atomic<Bool>(false)
        let caller = Task { () -> (Bool, Bool) in
            let sawCancel = await toItsEnd { () async -> Bool in
                // The body runs uncancelled, however long its exchange takes.
                try? await Task.sleep(for: .milliseconds(300))
                ended.store(true, ordering: .sequentiallyConsistent)
                return Task.isCancelled
            }
            return (sawCancel, ended.load(ordering: .sequentiallyConsistent))
        }
        try? await Task.sleep(for: .milliseconds(50))
        caller.cancel()
        let (bodyWasCancelled, endedWhenReturned) = await caller.value
        #expect(!bodyWasCancelled)
        #expect(endedWhenReturned)
    }
}
