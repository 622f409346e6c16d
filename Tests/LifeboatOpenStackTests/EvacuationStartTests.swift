import Foundation
import Testing

@testable import LifeboatOpenStack

/// Whether an evacuation is sent, followed, found done or refused, from Nova's unended
/// evacuation record (read first) and the server (read after it).
@Suite struct EvacuationStartTests {
    static func server(_ host: String, _ status: String = "ACTIVE", task: String? = nil) throws -> NovaClient.Server {
        try EvacuationTrackerTests.server(host: host, status: status, task: task)
    }

    static func record(_ id: Int, to dest: String?, _ status: String) -> NovaClient.Migration {
        NovaClient.Migration(id: id, instance_uuid: "s1", status: status, source_compute: "h1", dest_compute: dest, migration_type: "evacuation")
    }

    static func decide(_ m: NovaClient.Migration?, _ s: NovaClient.Server) -> EvacuationStart {
        EvacuationStart.decide(unended: m, server: s, id: "s1", from: "h1", to: "h2")
    }

    @Test func test_onItsSourceWithNoTaskAndNoRecord_isSent() throws {
        #expect(Self.decide(nil, try Self.server("h1")) == .send)
        #expect(Self.decide(nil, try Self.server("h1", "SHUTOFF")) == .send)
    }

    @Test func test_settledOnTheTarget_isAlreadyThere() throws {
        #expect(Self.decide(nil, try Self.server("h2")) == .alreadyThere(status: "ACTIVE"))
        #expect(Self.decide(nil, try Self.server("h2", "SHUTOFF")) == .alreadyThere(status: "SHUTOFF"))
    }

    /// CI's race: the dead leader's held request reached Nova during the new leader's wait.
    /// Read in the old order (server, then record) the new leader saw the server on its
    /// source and the record already `done` (not unended), and sent a second request.
    /// Read record first, whatever the server shows after it names the move.
    @Test func test_aMoveAcceptedAfterTheRecordWasRead_isFollowed_neverSent() throws {
        // No record yet when read; the server read after it shows each later stage.
        #expect(Self.decide(nil, try Self.server("h2", task: "rebuild_spawning")) == .follow(because: "already on h2 (ACTIVE, task rebuild_spawning)"))
        #expect(Self.decide(nil, try Self.server("h2")) == .alreadyThere(status: "ACTIVE"))
        // The task is saved a moment before Nova creates the record: read again, not sent.
        #expect(Self.decide(nil, try Self.server("h1", task: "rebuilding")) == .readAgain(task: "rebuilding"))
    }

    @Test func test_anUnendedEvacuationToTheTarget_isFollowed() throws {
        #expect(Self.decide(Self.record(7, to: "h2", "accepted"), try Self.server("h1", task: "rebuilding")) == .follow(because: "migration 7 to h2 (accepted)"))
        #expect(Self.decide(Self.record(7, to: "h2", "pre-migrating"), try Self.server("h1")) == .follow(because: "migration 7 to h2 (pre-migrating)"))
        #expect(Self.decide(Self.record(7, to: "h2", "rebuilding"), try Self.server("h2", task: "rebuild_spawning")) == .follow(because: "migration 7 to h2 (rebuilding)"))
    }

    /// `lab chaos --nova` seed 10: Nova still held an evacuation to a dead target and
    /// replayed it later; a second request to another host ran the server on two.
    @Test func test_anUnendedEvacuationElsewhere_isRefused() throws {
        guard case .refuse(let why) = Self.decide(Self.record(7, to: "h3", "accepted"), try Self.server("h1")) else {
            Issue.record("not refused")
            return
        }
        #expect(why.contains("migration 7 to h3") && why.contains("has not ended"))
        guard case .refuse = Self.decide(Self.record(8, to: nil, "accepted"), try Self.server("h1")) else {
            Issue.record("a move to the scheduler's choice not refused")
            return
        }
    }

    @Test func test_onAThirdHost_isRefused() throws {
        #expect(Self.decide(nil, try Self.server("h3")) == .refuse("s1 is on h3, not on h1: not evacuated"))
        #expect(Self.decide(Self.record(7, to: "h2", "accepted"), try Self.server("h3", task: "rebuilding")) == .refuse("s1 is on h3, not on h1: not evacuated"))
    }
}
