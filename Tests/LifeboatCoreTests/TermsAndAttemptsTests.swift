import LifeboatCore
import Testing

/// Issue 7, items 1, 2, 4, 6: terms, results bound to their attempt, quorum for every start
/// and for an operator's confirmation, cancellation, retention, startup fencing.
@Suite struct TermsAndAttemptsTests {
    static let holder1 = TermHolder(node: 1, incarnation: 7)
    static let holder2 = TermHolder(node: 2, incarnation: 9)

    func lostH1() throws -> ClusterState {
        var s = Lab.scenario(events: []).initialState
        try s.apply(.leaderChanged(holder: Self.holder1), at: 0)
        try s.apply(.nodeLost(host: "h1"), at: 0)
        return s
    }

    /// h1 lost, fenced and forced down; vm2's evacuation to h4 in flight.
    func evacuatingVM2() throws -> ClusterState {
        var s = try lostH1()
        try s.start(.fence(host: "h1"), at: 0)
        try s.finish("fence:h1", .off, at: 0)
        try s.start(.forceDown(host: "h1"), at: 0)
        try s.finish("force_down:h1", .ok, at: 0)
        try s.start(.evacuate(instance: "vm2", from: "h1", to: "h4"), at: 1)
        return s
    }

    @Test func test_leaderChanged_raisesTheTerm_andRecordsItsHolder() throws {
        let s = try lostH1()
        #expect(s.term == 1 && s.termHolder == Self.holder1)
    }

    @Test func test_start_isBoundToTermAndEpoch() throws {
        var s = try lostH1()
        let attempt = try s.start(.fence(host: "h1"), at: 1)
        #expect(attempt == Attempt(term: 1, id: s.epoch))
        #expect(s.inFlight["fence:h1"]!.leader == 1)
    }

    /// The bug the issue names: an old leader's result closed the new leader's re-issue.
    @Test func test_oldLeadersResult_afterAHeal_isStale_andChangesNothing() throws {
        var s = try lostH1()
        let old = try #require(try s.start(.fence(host: "h1"), at: 1))
        try s.apply(.leaderChanged(holder: Self.holder2), at: 2)
        let new = try #require(try s.start(.fence(host: "h1"), at: 3))
        #expect(new.term == 2 && new != old)
        let before = s
        do {
            try s.apply(.actionFinished(key: "fence:h1", attempt: old, report: ActionReport(.failed)), at: 4)
            Issue.record("the old attempt's result was applied")
        } catch {
            #expect(error.stale)
            #expect(error.reason.contains("stale"))
        }
        #expect(s == before)
        #expect(s.inFlight["fence:h1"]!.attempt == new)
        try s.apply(.actionFinished(key: "fence:h1", attempt: new, report: ActionReport(.off)), at: 5)
        #expect(s.hosts["h1"]!.fence == .off)
        #expect(s.hosts["h1"]!.recovery!.fenceAttempts == 0)  // the stale failure was not counted
    }

    @Test func test_startFromAPreviousTerm_isRefusedAsStale() throws {
        var s = try lostH1()
        try s.apply(.leaderChanged(holder: Self.holder2), at: 1)
        let before = s
        #expect(throws: EventRejected(
            "start of fence:h1 in term 1, but the current term is 2: a previous leader's", stale: true)) {
            try s.apply(.actionStarted(.fence(host: "h1"), term: 1), at: 2)
        }
        #expect(s == before)
    }

    @Test func test_cancelledAttempt_isNotAFailedAttempt_andIsPlannedAgain() throws {
        var s = try lostH1()
        try s.start(.fence(host: "h1"), at: 1)
        try s.finish("fence:h1", .cancelled, at: 2)
        #expect(s.hosts["h1"]!.recovery!.fenceAttempts == 0)
        #expect(s.inFlight.isEmpty)
        #expect(Scheduler.plan(s) == [.fence(host: "h1")])
        #expect(s.actionLog.last!.report.outcome == .cancelled)
    }

    @Test func test_cancelledEvacuation_keepsItsTargetAndBooking() throws {
        var s = try evacuatingVM2()
        let used = s.hosts["h4"]!.used
        try s.finish("evacuate:vm2", .cancelled, at: 2)
        #expect(s.hosts["h4"]!.used == used)
        #expect(Scheduler.plan(s).contains(.evacuate(instance: "vm2", from: "h1", to: "h4")))
    }

    /// `lab chaos --nova` seed 24: the dropped leader's evacuation request may still be on
    /// its way to Nova, so its re-issue is marked to let it land first; the mark survives the
    /// codec and goes once the evacuation has a result.
    @Test func test_evacuationDroppedByALeaderChange_isMarkedInterrupted_untilItsResult() throws {
        var s = try evacuatingVM2()
        #expect(s.instances["vm2"]!.evacuationInterruptedAt == nil)
        try s.apply(.leaderChanged(holder: Self.holder2), at: 5)
        #expect(s.instances["vm2"]!.evacuationInterruptedAt == 5)
        #expect(Scheduler.plan(s).contains(.evacuate(instance: "vm2", from: "h1", to: "h4")))
        let back = try ClusterState.decode(try JSONParser.parse(JSONWriter.write(s.json, timeKeys: [])), at: "")
        #expect(back == s)
        try s.start(.evacuate(instance: "vm2", from: "h1", to: "h4"), at: 6)
        #expect(s.instances["vm2"]!.evacuationInterruptedAt == 5)  // the re-issue reads it
        try s.finish("evacuate:vm2", .ok, at: 7)
        #expect(s.instances["vm2"]!.evacuationInterruptedAt == nil)
    }

    /// `lab chaos --nova` seed 5: what the evacuation executor asks right before its request.
    @Test func test_hostIsBack_onlyOnceItRejoinedOrLeftRecovery() throws {
        var s = try lostH1()
        #expect(!s.hostIsBack("h1"))  // lost, in recovery
        try s.start(.fence(host: "h1"), at: 0)
        try s.finish("fence:h1", .off, at: 0)
        #expect(!s.hostIsBack("h1"))  // fenced off
        #expect(s.hostIsBack("h2"))  // a member
        #expect(!s.hostIsBack("nope"))
        try s.apply(.nodeJoined(host: "h1"), at: 3)
        #expect(s.hostIsBack("h1"))
    }

    /// `lab chaos --nova` seed 15: the leader planned a force-down retry from a state in
    /// which host2 was still fenced off; host2's join was replicated first, so the start came
    /// after the host ran again. The start is refused, and nothing changes.
    @Test func test_serviceSteps_planned_beforeARejoin_areRefused_afterIt() throws {
        var s = try lostH1()
        try s.start(.fence(host: "h1"), at: 0)
        try s.finish("fence:h1", .off, at: 0)
        #expect(Scheduler.plan(s).contains(.forceDown(host: "h1")))
        var rejoined = s
        try rejoined.apply(.nodeJoined(host: "h1"), at: 3)
        #expect(!Scheduler.plan(rejoined).contains(.forceDown(host: "h1")))
        let before = rejoined
        #expect(throws: EventRejected.self) { try rejoined.start(.forceDown(host: "h1"), at: 3) }
        #expect(throws: EventRejected.self) { try rejoined.start(.disableService(host: "h1"), at: 3) }
        #expect(rejoined == before)
        // Before the rejoin both are valid, in the planner's order.
        var inOrder = s
        try inOrder.start(.forceDown(host: "h1"), at: 1)
        try inOrder.finish("force_down:h1", .ok, at: 1)
        try inOrder.start(.disableService(host: "h1"), at: 1)
    }

    /// A force-down started before the rejoin, still in flight after it: the host is not
    /// re-enabled until its result is in (Nova would get both at once, in either order).
    @Test func test_readmission_waitsFor_aServiceStepInFlight() throws {
        var s = try lostH1()
        try s.start(.fence(host: "h1"), at: 0)
        try s.finish("fence:h1", .off, at: 0)
        try s.start(.forceDown(host: "h1"), at: 1)
        try s.apply(.nodeJoined(host: "h1"), at: 2)
        #expect(!Scheduler.plan(s).contains(.enableService(host: "h1")))
        try s.finish("force_down:h1", .ok, at: 3)
        #expect(Scheduler.plan(s).contains(.enableService(host: "h1")))
    }

    @Test func test_withoutQuorum_onlyNoticesStart() throws {
        var s = try lostH1()
        try s.apply(.quorum(quorate: false), at: 1)
        let before = s
        #expect(throws: EventRejected.self) { try s.start(.fence(host: "h1"), at: 2) }
        #expect(s == before)
        let notice = Scheduler.plan(s).first!
        guard case .notify(let n) = notice else { Issue.record("expected the quorum notice"); return }
        #expect(n.kind == .quorumLost)
        try s.start(notice, at: 2)
        #expect(s.notices.count == 1)
    }

    /// Item 4: a minority answered ok and the merge dropped the confirmation.
    @Test func test_operatorConfirmation_withoutQuorum_isRefused() throws {
        var s = try lostH1()
        try s.apply(.quorum(quorate: false), at: 1)
        let before = s
        #expect(throws: EventRejected.self) { try s.apply(.fenceConfirmedByOperator(host: "h1"), at: 2) }
        #expect(s == before)
    }

    @Test func test_reportDetail_isKept_boundedInTheActionLog() throws {
        var s = try lostH1()
        let attempt = try #require(try s.start(.fence(host: "h1"), at: 1))
        let report = ActionReport(
            .off, message: String(repeating: "x", count: 10_000), durationMS: 42,
            steps: [StepReport(name: "level 1: ipmi", outcome: .failed, durationMS: 20, error: "timeout"),
                    StepReport(name: "level 2: fence_ipmilan", outcome: .off, durationMS: 22)],
            attributes: ["device": "bmc"], console: .captured(String(repeating: "panic\n", count: 20_000)))
        try s.apply(.actionFinished(key: "fence:h1", attempt: attempt, report: report), at: 2)
        let kept = s.actionLog.last!
        #expect(kept.record.attempt == attempt)
        #expect(kept.report.steps.count == 2 && kept.report.durationMS == 42)
        #expect(kept.report.message!.utf8.count <= ActionReport.maxMessageBytes)
        guard case .captured(let tail) = kept.report.console else { Issue.record("console lost"); return }
        #expect(tail.utf8.count <= ActionReport.maxConsoleBytes && tail.hasSuffix("panic\n"))
    }

    @Test func test_retention_prunesOldestNoticesAndActions_andCountsThem() throws {
        var policy = Policy()
        policy.noticeRetention = 3
        policy.actionLogRetention = 2
        var s = Lab.scenario(hosts: 8, policy: policy, events: []).initialState
        try s.apply(.leaderChanged(holder: Self.holder1), at: 0)
        for n in 1...5 {
            let instance = "vm\(((n - 1) % 3) + 1)"
            _ = instance
            try s.start(.notify(Notice(kind: .noCapacity, key: "test\(n)", reason: "r\(n)")), at: Double(n))
            try s.start(.restartProcess(host: "h2", process: "p\(n)"), at: Double(n))
            try s.finish("restart_process:h2:p\(n)", .ok, at: Double(n))
        }
        #expect(s.notices.map(\.notice.reason) == ["r3", "r4", "r5"])
        #expect(s.prunedNotices == 2)
        #expect(s.actionLog.count == 2 && s.prunedActions == 3)
        #expect(s.noticeKeys.count == 3)
    }

    @Test func test_retentionByAge() throws {
        var policy = Policy()
        policy.retentionAge = 100
        var s = Lab.scenario(policy: policy, events: []).initialState
        try s.apply(.leaderChanged(holder: Self.holder1), at: 0)
        try s.start(.notify(Notice(kind: .noCapacity, key: "a", reason: "old")), at: 0)
        try s.start(.notify(Notice(kind: .noCapacity, key: "b", reason: "new")), at: 150)
        #expect(s.notices.map(\.notice.reason) == ["new"])
        #expect(s.prunedNotices == 1)
    }

    @Test func test_startupFencing_unseenHostIsRecovered_seenHostIsNot() throws {
        var s = Lab.scenario(events: []).initialState.restartedFromSavedState()
        #expect(s.hosts.values.allSatisfy { $0.unseen && !$0.member } && !s.quorate)
        try s.apply(.nodeJoined(host: "h2"), at: 0)
        try s.apply(.quorum(quorate: true), at: 0)
        #expect(s.quorateSince == 0)
        try s.apply(.nodeUnseen(host: "h2"), at: 61)  // joined: not unseen any more
        #expect(s.hosts["h2"]!.recovery == nil)
        try s.apply(.nodeUnseen(host: "h1"), at: 61)
        #expect(s.hosts["h1"]!.recovery?.cause == .unseenAtStartup)
        #expect(s.pendingNotices.contains { $0.kind == .hostUnseen })
        #expect(Scheduler.plan(s).contains(.fence(host: "h1")))
    }

    @Test func test_restartFromSavedState_keepsRecoveriesAndServices() throws {
        let s = try evacuatingVM2()
        let r = s.restartedFromSavedState()
        #expect(r.hosts["h1"]!.fence == .off && r.hosts["h1"]!.service == .forcedDown)
        #expect(r.inFlight["evacuate:vm2"] != nil && r.term == s.term)
        var next = r
        try next.apply(.quorum(quorate: true), at: 2)
        try next.apply(.leaderChanged(holder: Self.holder2), at: 2)
        // Hosts still rejoining (unseen, within the grace): nothing is placed, nobody told.
        #expect(Scheduler.plan(next).allSatisfy { if case .evacuate = $0 { false } else if case .notify = $0 { false } else { true } })
        for h in ["h2", "h3", "h4"] { try next.apply(.nodeJoined(host: h), at: 3) }
        #expect(Scheduler.plan(next).contains(.evacuate(instance: "vm2", from: "h1", to: "h4")))
    }
}

/// Issue 8: a fence that failed is tried again after `fence_retry_interval`, so a host is
/// fenced once its BMC answers again; nothing is evacuated meanwhile.
@Suite struct FenceRetryTests {
    @Test func test_failedFence_isRetriedAfterTheInterval_andThenRecoveryGoesOn() throws {
        var policy = Policy()
        policy.fenceRetryInterval = 30
        var s = Lab.scenario(policy: policy, events: []).initialState
        try s.apply(.nodeLost(host: "h1"), at: 0)
        for t in [0.0, 1.0] {
            try s.start(.fence(host: "h1"), at: t)
            try s.finish("fence:h1", .timeout, at: t)
        }
        #expect(s.hosts["h1"]!.fence == .failed)
        let notice = Scheduler.plan(s)
        #expect(notice.count == 1 && !notice.contains(.fence(host: "h1")))
        try s.start(notice[0], at: 2)
        try s.apply(.clock, at: 20)
        #expect(Scheduler.plan(s).isEmpty)  // within the interval: nothing, no evacuation
        try s.apply(.clock, at: 31)
        #expect(Scheduler.plan(s) == [.fence(host: "h1")])
        try s.start(.fence(host: "h1"), at: 31)
        try s.finish("fence:h1", .off, at: 31)
        #expect(s.hosts["h1"]!.fence == .off)
        #expect(Scheduler.plan(s).contains(.forceDown(host: "h1")))
    }

    @Test func test_retryIntervalZero_waitsForTheOperator() throws {
        var policy = Policy()
        policy.fenceRetryInterval = 0
        var s = Lab.scenario(policy: policy, events: []).initialState
        try s.apply(.nodeLost(host: "h1"), at: 0)
        for t in [0.0, 1.0] {
            try s.start(.fence(host: "h1"), at: t)
            try s.finish("fence:h1", .failed, at: t)
        }
        try s.start(Scheduler.plan(s)[0], at: 2)
        try s.apply(.clock, at: 10_000)
        #expect(Scheduler.plan(s).isEmpty)
    }
}
