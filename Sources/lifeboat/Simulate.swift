import ArgumentParser
import LifeboatCore
import LifeboatHistory
import LifeboatReplication

import Foundation

/// `lifeboat simulate FILE`: replays a scenario through the real decision core.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a scenario file through the decision core and print what the leader does.",
        discussion: """
            Prints one JSON object per action started and result recorded, then {"final": …}.
            Exit status: 0 on success, 2 when the scenario is invalid (the message names the
            place), 3 when a safety invariant was broken during the replay.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case json, text }

    @Argument(help: "The scenario file (JSON, see SCENARIOS.md). '-' reads standard input.")
    var file: String

    @Option(help: "Output format: json (JSON lines) or text (a table for people).")
    var format: Format = .json

    @Option(help: "Also write the replay as a durable history into this new file (for lifeboat history/incident/report --database).")
    var history: String?

    func run() throws {
        let text: String
        do { text = try readFile(file) } catch { throw fail("\(error)", code: 2) }
        let scenario: Scenario
        do { scenario = try Scenario.parse(text) } catch { throw fail("\(file): \(error)", code: 2) }
        let result = Simulator.run(scenario)
        if let history { try writeHistory(result, scenario: scenario, to: history) }
        switch format {
        case .json: for line in SimulationOutput.jsonLines(result) { print(line) }
        case .text: print(SimulationOutput.text(result), terminator: "")
        }
        if !result.violations.isEmpty {
            throw fail(
                "\(file): \(result.violations.count) safety invariant(s) broken:\n" + result.violations.joined(separator: "\n"),
                code: 3)
        }
    }
}

extension Simulate {
    /// The replay as a node would have recorded it (node 1 records everything).
    func writeHistory(_ result: Simulator.Result, scenario: Scenario, to path: String) throws {
        guard !FileManager.default.fileExists(atPath: path) else { throw fail("\(path) exists: give a new file for --history", code: 2) }
        let entries = result.log.compactMap { l -> HistoryEntry? in
            if case .clock = l.event { return nil }
            let outcome: HistoryEntry.Result = l.rejected.map { l.stale ? .stale($0) : .rejected($0) } ?? .applied
            return HistoryEntry(epoch: l.epoch, at: l.at, origin: 1, event: HistoryEntry.summary(l.event), result: outcome, applied: l.applied)
        }
        do {
            let db = try HistoryDatabase(path: path)
            try db.sync(window: entries, firstSeq: 0, context: .of(result.final), reconcile: false, now: result.final.now)
        } catch { throw fail("\(path): \(error)", code: 1) }
    }
}

/// Prints `lifeboat: MESSAGE` on standard error and ends with the given exit status.
func fail(_ message: String, code: Int32) -> ExitCode {
    FileHandle.standardError.write(Data("lifeboat: \(message)\n".utf8))
    return ExitCode(code)
}

/// Reads a whole file (or standard input for "-") as UTF-8.
func readFile(_ path: String) throws -> String {
    let data: Data
    if path == "-" {
        data = FileHandle.standardInput.readDataToEndOfFile()
    } else {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read \(path): no such file or not readable")
        }
        data = d
    }
    guard let s = String(data: data, encoding: .utf8) else { throw ValidationError("\(path) is not valid UTF-8") }
    return s
}
