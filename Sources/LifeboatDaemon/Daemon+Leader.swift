import Foundation
import LifeboatCore
import LifeboatSystem
import LifeboatReplication

/// The leader's effects: the `Conductor` decides (pure), this file carries out its
/// directives: multicast starts and results, run executors as tasks with a context whose
/// check reaches corosync synchronously, cancel them when the term or quorum is lost.
extension Daemon {
    var conductorView: Conductor.View {
        guard let r = replica else { return Conductor.View(term: nil, quorate: false, agrees: false, executable: []) }
        let syncing = r.holdsTermThroughRound
        return Conductor.View(
            term: r.mayNotify || syncing ? r.state.term : nil, quorate: r.localQuorate && r.state.quorate, agrees: r.membershipAgrees,
            executable: Set(executors.keys), syncing: syncing)
    }

    func refreshGate() {
        let v = conductorView
        gate.update(
            LeadershipGate.View(term: v.term, mayAct: v.mayAct && session != nil, reason: replica?.notActingBecause ?? "not the leader"))
    }

    func leaderStep() {
        guard let r = replica else { return }
        refreshGate()
        for d in conductor.step(r.state, conductorView) { interpret(d) }
    }

    func interpret(_ d: Conductor.Directive) {
        switch d {
        case .send(let event, let request): send(event, request: request)
        case .execute(let record): execute(record)
        case .cancel(let record, let reason):
            Log.warning("cancelling \(record.key) attempt \(record.attempt): \(reason)")
            tasks[record.key]?.task.cancel()
            executors[record.action.kind]?.abort(record.attempt)
        case .log(let line):
            if line.hasPrefix("NOTICE") { Log.warning(line) } else { Log.info(line) }
        }
    }

    func execute(_ record: ActionRecord) {
        guard let executor = executors[record.action.kind] else { return }
        let gate = gate
        let term = record.attempt.term
        let timeout = configuration.actionTimeout
        let context = ExecutionContext(
            attempt: record.attempt, startedAt: record.startedAt, deadline: .now + .seconds(timeout),
            check: { gate.whyNot(term: term) })
        Log.info("executing \(record.key) attempt \(record.attempt)")
        // High, as the Corosync loop: an action's steps and its result go before queued
        // operator commands (see main.swift).
        let task = Task.detached(priority: .high) { [weak self] in
            let report = await executor.execute(record.action, context: context)
            await self?.executorDone(record, report)
        }
        tasks[record.key] = Run(attempt: record.attempt, task: task)
        Task { [weak self] in
            try? await Task.sleep(for: .seconds(timeout))
            await self?.timedOut(record)
        }
    }

    func timedOut(_ record: ActionRecord) {
        guard tasks[record.key]?.attempt == record.attempt else { return }
        Log.warning("\(record.key) attempt \(record.attempt) ran past action_timeout (\(configuration.actionTimeout) s): cancelling")
        tasks[record.key]!.timedOut = true
        tasks[record.key]!.task.cancel()
        executors[record.action.kind]?.abort(record.attempt)
    }

    func executorDone(_ record: ActionRecord, _ report: ActionReport) {
        var report = report
        if let run = tasks[record.key], run.attempt == record.attempt {
            if run.timedOut, report.outcome == .cancelled { report.outcome = .timeout }
            tasks[record.key] = nil
        }
        let detail = report.message.map { ": \($0)" } ?? ""
        Log.info("\(record.key) attempt \(record.attempt) finished \(report.outcome.rawValue)\(detail)")
        for d in conductor.executorFinished(record, report) { interpret(d) }
    }
}
