import Foundation
import Testing

@testable import LifeboatOpenStack

/// When a server read during an evacuation ends the wait (the tracker reads a server once
/// Nova's migration record of its evacuation ended, or when it lists the hosts).
@Suite struct EvacuationTrackerTests {
    static func server(host: String, status: String, task: String? = nil) throws -> NovaClient.Server {
        let task = task.map { "\"\($0)\"" } ?? "null"
        let json = """
            {"id": "s1", "name": "s1", "status": "\(status)", "metadata": {},
             "OS-EXT-SRV-ATTR:host": "\(host)", "OS-EXT-STS:task_state": \(task)}
            """
        return try JSONDecoder().decode(NovaClient.Server.self, from: Data(json.utf8))
    }

    @Test func test_settledOrErrorOnTheTarget_ends_stillRebuildingThere_doesNot() throws {
        #expect(EvacuationTracker.ends(try Self.server(host: "h2", status: "ACTIVE"), target: "h2", recordEnded: false))
        #expect(EvacuationTracker.ends(try Self.server(host: "h2", status: "SHUTOFF"), target: "h2", recordEnded: true))
        #expect(EvacuationTracker.ends(try Self.server(host: "h2", status: "ERROR", task: "rebuild_spawning"), target: "h2", recordEnded: false))
        #expect(!EvacuationTracker.ends(try Self.server(host: "h2", status: "ACTIVE", task: "rebuild_spawning"), target: "h2", recordEnded: false))
    }

    @Test func test_offTheTarget_endsOnlyWithNoTask_inErrorOrWithTheRecordEnded() throws {
        // No valid host: ERROR on the source, no task (whether or not the record was read).
        #expect(EvacuationTracker.ends(try Self.server(host: "h1", status: "ERROR"), target: "h2", recordEnded: false))
        // The target's claim failed: the record is `failed`, the server as it was.
        #expect(EvacuationTracker.ends(try Self.server(host: "h1", status: "ACTIVE"), target: "h2", recordEnded: true))
        // Still on its way (the request set the task), or the request never reached Nova.
        #expect(!EvacuationTracker.ends(try Self.server(host: "h1", status: "ACTIVE", task: "rebuilding"), target: "h2", recordEnded: true))
        #expect(!EvacuationTracker.ends(try Self.server(host: "h1", status: "ACTIVE"), target: "h2", recordEnded: false))
    }

    @Test func test_endedStatuses_areNovasFinalOnes() {
        for s in ["done", "failed", "error"] { #expect(EvacuationTracker.endedStatuses.contains(s)) }
        for s in ["accepted", "pre-migrating", "migrating", "post-migrating"] { #expect(!EvacuationTracker.endedStatuses.contains(s)) }
    }
}
