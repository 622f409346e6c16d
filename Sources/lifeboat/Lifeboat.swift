import ArgumentParser
import LifeboatCore

/// The operator CLI. Today: offline simulation and benchmarks of the decision core; the
/// daemon-facing commands (status, maintenance, fence, history, …) come with lifeboatd.
@main
struct Lifeboat: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lifeboat",
        abstract: "Operate and simulate a Lifeboat cluster (HA for OpenStack compute hosts).",
        subcommands: [Simulate.self, Bench.self, Version.self])
}
