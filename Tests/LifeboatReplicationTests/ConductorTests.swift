import LifeboatCore
import Testing

@testable import LifeboatReplication

/// A reference around the value, so that `#expect` can call its mutating methods.
final class Driver {
    var c = Conductor()
    func step(_ s: ClusterState, _ v: Conductor.View) -> [Conductor.Directive] { c.step(s, v) }
    func requestDone(_ id: UInt64, rejected: String?) -> Bool { c.requestDone(id, rejected: rejected) }
    func executorFinished(_ r: ActionRecord, _ report: ActionReport) -> [Conductor.Directive] { c.executorFinished(r, report) }
    func connectionLost() -> [Conductor.Directive] { c.connectionLost() }
    var starts: [String: UInt64] { c.starts }
    var notices: [String: UInt64] { c.notices }
    var cancelling: Set<String> { c.cancelling }
    var finishing: [String: Attempt] { c.finishing }
    var unexecutable: Set<String> { c.unexecutable }
}

/// The leader's bookkeeping (issue 7, item 3), driven with no daemon and no network.
@Suite struct ConductorTests {
    static let holder = TermHolder(node: 1, incarnation: 5)

    /// One segment, h1 lost (a fence is due), this node holds term 1.
    static func state() throws -> ClusterState {
        var s = ClusterState(configuration: FakeCPG.configuration)
        try s.apply(.leaderChanged(holder: holder), at: 0)
        try s.apply(.nodeLost(host: "host1"), at: 0)
        return s
    }

    static func view(_ s: ClusterState, quorate: Bool = true, agrees: Bool = true, executable: Set<String> = Set(Action.allKinds))
        -> Conductor.View
    {
        Conductor.View(term: s.term, quorate: quorate, agrees: agrees, executable: executable)
    }

    static func sends(_ d: [Conductor.Directive]) -> [(Event, UInt64)] {
        d.compactMap { if case .send(let e, let r) = $0 { (e, r) } else { nil } }
    }

    @Test func test_step_sendsTheStart_thenRunsTheRecordedAttemptOnce() throws {
        var s = try Self.state()
        let c = Driver()
        let first = Self.sends(c.step(s, Self.view(s)))
        #expect(first.map(\.0) == [.actionStarted(.fence(host: "host1"), term: 1)])
        #expect(Self.sends(c.step(s, Self.view(s))).isEmpty)  // not sent twice
        try s.apply(first[0].0, at: 1)
        _ = c.requestDone(first[0].1, rejected: nil)
        let run = c.step(s, Self.view(s))
        #expect(run == [.execute(s.inFlight["fence:host1"]!)])
        #expect(c.step(s, Self.view(s)).isEmpty)  // running: nothing new
    }

    @Test func test_executesTheRecordedAction_notThePlannedCopy() throws {
        var s = try Self.state()
        try s.start(.fence(host: "host1"), at: 0)
        try s.finish("fence:host1", .off, at: 0)
        try s.start(.forceDown(host: "host1"), at: 0)
        try s.finish("force_down:host1", .ok, at: 0)
        // The record says host3 (booked then); whatever the plan would now choose, the
        // executor gets the record.
        try s.start(.evacuate(instance: "vm1", from: "host1", to: "host3"), at: 1)
        let c = Driver()
        let d = c.step(s, Self.view(s, executable: ["evacuate", "disable_service"]))
        #expect(d.contains(.execute(s.inFlight["evacuate:vm1"]!)))
        guard case .evacuate(_, _, let to) = s.inFlight["evacuate:vm1"]!.action else { Issue.record("no record"); return }
        #expect(to == "host3")
    }

    @Test func test_refusedStart_isForgotten_andPlannedAgain() throws {
        let s = try Self.state()
        let c = Driver()
        let first = Self.sends(c.step(s, Self.view(s)))
        #expect(c.starts["fence:host1"] != nil)
        #expect(c.requestDone(first[0].1, rejected: "node_joined came first"))
        #expect(c.starts.isEmpty)
        #expect(Self.sends(c.step(s, Self.view(s))).map(\.0) == [.actionStarted(.fence(host: "host1"), term: 1)])
    }

    @Test func test_lostQuorum_cancelsRunningExecutors_disagreementOnlyHoldsNewStarts() throws {
        var s = try Self.state()
        try s.start(.fence(host: "host1"), at: 0)
        let c = Driver()
        #expect(c.step(s, Self.view(s)).count == 1)
        // Quorum and membership disagree for a moment: the fence goes on, nothing new starts.
        #expect(c.step(s, Self.view(s, agrees: false)).isEmpty)
        let cancel = c.step(s, Self.view(s, quorate: false))
        #expect(cancel == [.cancel(s.inFlight["fence:host1"]!, reason: "quorum was lost")])
        #expect(c.step(s, Self.view(s, quorate: false)).isEmpty)  // told once
    }

    @Test func test_lostTerm_cancels_andTheResultStillGoesOut() throws {
        var s = try Self.state()
        try s.start(.fence(host: "host1"), at: 0)
        let record = s.inFlight["fence:host1"]!
        let c = Driver()
        _ = c.step(s, Self.view(s))
        let noTerm = Conductor.View(term: nil, quorate: true, agrees: true, executable: ["fence"])
        #expect(c.step(s, noTerm) == [.cancel(record, reason: "this node no longer holds term 1")])
        let out = c.executorFinished(record, ActionReport(.cancelled))
        #expect(Self.sends(out).map(\.0) == [.actionFinished(key: "fence:host1", attempt: record.attempt, report: ActionReport(.cancelled))])
    }

    /// A node joined: the leader holds its term through the sync round, what runs goes on,
    /// nothing new starts; the round ending with the term lost cancels. (Cancelling at the
    /// round's start made the leader re-issue an evacuation Nova had not yet recorded: one
    /// server evacuated twice, `lab chaos --nova` seed 24.)
    @Test func test_syncRound_keepsWhatRuns_startsNothing_andTheTermLostAfterItCancels() throws {
        var s = try Self.state()
        try s.start(.fence(host: "host1"), at: 0)
        let record = s.inFlight["fence:host1"]!
        try s.apply(.nodeLost(host: "host2"), at: 0)  // a second fence is due
        let c = Driver()
        #expect(c.step(s, Self.view(s)).contains(.execute(record)))
        let starts = c.starts
        var syncing = Self.view(s)
        syncing.syncing = true
        #expect(!syncing.mayAct && !syncing.mayNotify)
        #expect(c.step(s, syncing).isEmpty)  // no cancel, no start
        #expect(c.cancelling.isEmpty && c.starts == starts)
        #expect(c.step(s, Self.view(s)).allSatisfy { if case .cancel = $0 { false } else { true } })  // term kept
        let lost = Conductor.View(term: nil, quorate: true, agrees: true, executable: ["fence"])
        #expect(c.step(s, lost) == [.cancel(record, reason: "this node no longer holds term 1")])
    }

    /// At most one executor per key, across cancellation.
    @Test func test_newAttemptOfAKey_waitsForTheCancelledExecutorToEnd() throws {
        var s = try Self.state()
        try s.start(.fence(host: "host1"), at: 0)
        let old = s.inFlight["fence:host1"]!
        let c = Driver()
        _ = c.step(s, Self.view(s))
        try s.apply(.leaderChanged(holder: Self.holder), at: 1)  // a new term of this node
        _ = c.step(s, Self.view(s))  // cancels the old attempt
        #expect(c.cancelling.contains("fence:host1"))
        #expect(Self.sends(c.step(s, Self.view(s))).isEmpty)  // old executor still running
        _ = c.executorFinished(old, ActionReport(.cancelled))
        // The old attempt's result is stale in the new term; the key is free again.
        #expect(throws: EventRejected.self) {
            try s.apply(.actionFinished(key: "fence:host1", attempt: old.attempt, report: ActionReport(.cancelled)), at: 2)
        }
        #expect(Self.sends(c.step(s, Self.view(s))).map(\.0) == [.actionStarted(.fence(host: "host1"), term: 2)])
    }

    @Test func test_attemptOfOwnTermNotRunning_isRun() throws {
        var s = try Self.state()
        try s.start(.fence(host: "host1"), at: 0)
        let c = Driver()
        #expect(c.step(s, Self.view(s, quorate: false)).isEmpty)
        #expect(c.step(s, Self.view(s)) == [.execute(s.inFlight["fence:host1"]!)])
    }

    @Test func test_resultSent_isNotRunAgainBeforeItIsApplied() throws {
        var s = try Self.state()
        try s.start(.fence(host: "host1"), at: 0)
        let r = s.inFlight["fence:host1"]!
        let c = Driver()
        _ = c.step(s, Self.view(s))
        _ = c.executorFinished(r, ActionReport(.off))
        #expect(c.step(s, Self.view(s)).isEmpty)
        try s.apply(.actionFinished(key: r.key, attempt: r.attempt, report: ActionReport(.off)), at: 1)
        #expect(c.finishing.isEmpty || c.step(s, Self.view(s)).allSatisfy { if case .execute = $0 { false } else { true } })
    }

    @Test func test_noticesWithoutQuorum_toldOnce() throws {
        var s = try Self.state()
        try s.apply(.quorum(quorate: false), at: 1)
        let c = Driver()
        let d = Self.sends(c.step(s, Self.view(s, quorate: false)))
        #expect(d.count == 1)
        guard case .actionStarted(.notify(let n), _) = d[0].0 else { Issue.record("not a notice"); return }
        #expect(n.kind == .quorumLost)
        #expect(Self.sends(c.step(s, Self.view(s, quorate: false))).isEmpty)
    }

    @Test func test_kindWithoutExecutor_waits_andIsListed() throws {
        let s = try Self.state()
        let c = Driver()
        let d = c.step(s, Self.view(s, executable: []))
        #expect(Self.sends(d).isEmpty)
        #expect(c.unexecutable == ["fence:host1"])
        #expect(d.contains { if case .log(let l) = $0 { l.contains("no fence executor") } else { false } })
    }

    @Test func test_connectionLost_cancelsEverything() throws {
        var s = try Self.state()
        try s.start(.fence(host: "host1"), at: 0)
        let c = Driver()
        _ = c.step(s, Self.view(s))
        #expect(c.connectionLost() == [.cancel(s.inFlight["fence:host1"]!, reason: "the connection to corosync was lost")])
        #expect(c.starts.isEmpty && c.notices.isEmpty)
    }
}
