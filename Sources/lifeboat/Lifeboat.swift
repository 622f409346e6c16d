import ArgumentParser
import LifeboatCore

/// The operator CLI: talks to the local lifeboatd over its control socket (status,
/// configuration, maintenance, reserve, HA tags, segments, fence confirmation, history),
/// and runs the decision core offline (simulate, bench).
@main
struct Lifeboat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lifeboat",
        abstract: "Operate and simulate a Lifeboat cluster (HA for OpenStack compute hosts).",
        subcommands: [
            Status.self, Config.self, Maintenance.self, Reserved.self, HA.self, SegmentCommand.self, Fence.self, BMC.self,
            History.self, IncidentCommand.self, Report.self, ResourceCommand.self, Manual.self, NovaCommand.self, Simulate.self, Bench.self, Debug.self, Version.self,
        ])
}
