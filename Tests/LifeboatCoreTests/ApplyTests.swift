import LifeboatCore
import Testing

/// `apply` refuses what does not fit and leaves the state untouched; replaying the same
/// events gives the same state, and a new leader resumes without repeating finished steps.
@Suite struct ApplyTests {
    static let bad: [(String, Event)] = [
        ("unknown host", .nodeLost(host: "nope")),
        ("unknown instance", .instanceFailed(instance: "nope")),
        ("unknown segment", .stormReset(segment: "nope")),
        ("finish of an action not in flight", .actionFinished(key: "fence:h1", attempt: Attempt(term: 0, id: 1), report: ActionReport(.off))),
        ("fence of a healthy host", .actionStarted(.fence(host: "h2"), term: 0)),
        ("operator confirms power-off of a running member", .fenceConfirmedByOperator(host: "h2")),
        ("evacuation from the wrong host", .actionStarted(.evacuate(instance: "vm1", from: "h2", to: "h3"), term: 0)),
        ("a start in a term that is not the current one", .actionStarted(.forceDown(host: "h2"), term: 3)),
    ]

    @Test(arguments: bad.map(\.0))
    func test_badEvent_isRejectedWithAReason_andStateUnchanged(_ name: String) throws {
        let event = Self.bad.first { $0.0 == name }!.1
        var s = Lab.scenario(events: []).initialState
        let before = s
        do {
            try s.apply(event, at: 1)
            Issue.record("\(name) was accepted")
        } catch {
            #expect(!error.reason.isEmpty)
        }
        #expect(s == before)
    }

    @Test func test_wrongOutcomeForAFence_isRejected() throws {
        var s = Lab.scenario(events: []).initialState
        try s.apply(.nodeLost(host: "h1"), at: 0)
        try s.start(.fence(host: "h1"), at: 0)
        let before = s
        #expect(throws: EventRejected.self) { try s.finish("fence:h1", .ok, at: 0) }
        #expect(s == before)
    }

    @Test func test_sameEventsSameOrder_giveTheSameState() {
        let sc = Lab.scenario(
            events: [(0, .nodeLost(host: "h1")), (3, .processFailed(host: "h2", process: "nova-compute"))])
        let a = Simulator.run(sc).final
        let b = Simulator.run(sc).final
        #expect(a == b)
        #expect(a.epoch == b.epoch)
    }

    /// Records the events a leader applied while running a scenario, then checks at every
    /// prefix that a new leader replaying them plans no step that already finished.
    @Test func test_newLeader_replayingAnyPrefix_neverRepeatsAFinishedStep() throws {
        let sc = Lab.scenario(
            events: [(0, .nodeLost(host: "h1")), (1, .instanceFailed(instance: "vm3"))],
            faults: .with(fence: ["h1": .failOnce]))
        var log: [Event] = []
        var state = sc.initialState
        for e in sc.events.map(\.event) { try state.apply(e, at: 0); log.append(e) }
        var fenceAttempts = 0
        while true {
            let actions = Scheduler.plan(state)
            if actions.isEmpty { break }
            for a in actions {
                let start = Event.actionStarted(a, term: state.term)
                try state.apply(start, at: 0)
                log.append(start)
                if case .notify = a { continue }
                if case .fence = a { fenceAttempts += 1 }
                let outcome: Outcome = if case .fence = a { fenceAttempts == 1 ? .failed : .off } else { .ok }
                let finish = Event.actionFinished(key: a.key, attempt: state.inFlight[a.key]!.attempt, report: ActionReport(outcome))
                try state.apply(finish, at: 0)
                log.append(finish)
            }
        }
        #expect(log.count > 10)
        for cut in 0...log.count {
            var replica = sc.initialState
            for e in log.prefix(cut) { try replica.apply(e, at: 0) }
            var finished = Set<String>()
            var started = Set<String>()
            for case .actionStarted(let a, _) in log.prefix(cut) { started.insert(a.key) }
            for case .actionFinished(let key, _, let r) in log.prefix(cut) where r.outcome.succeeded { finished.insert(key) }
            for a in Scheduler.plan(replica) {
                #expect(!finished.contains(a.key), "cut \(cut): \(a.key) finished already but was planned again")
                if case .notify = a { #expect(!started.contains(a.key)) }
            }
        }
    }

    @Test func test_leaderChanged_reissuesInFlightStepsOnly() throws {
        var s = Lab.scenario(events: []).initialState
        try s.apply(.nodeLost(host: "h1"), at: 0)
        try s.start(.fence(host: "h1"), at: 0)
        #expect(Scheduler.plan(s).isEmpty)
        try s.apply(.leaderChanged(holder: TermHolder(node: 2, incarnation: 1)), at: 1)
        #expect(Scheduler.plan(s) == [.fence(host: "h1")])
    }
}
