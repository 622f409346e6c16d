import ArgumentParser
import Foundation
import LifeboatCorosync

/// Tools for tests and troubleshooting.
struct Debug: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Troubleshooting tools (not for everyday use).", subcommands: [CPGSend.self])

    /// Joins the CPG group and multicasts raw bytes, as a misbehaving member would.
    struct CPGSend: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cpg-send", abstract: "Join a CPG group, multicast the bytes of FILE ('-': stdin), leave.")
        @Option(help: "The CPG group.") var group = "lifeboat"
        @Argument(help: "The file with the message bytes.") var file: String
        @Option(help: "Send the message this many times.") var `repeat` = 1
        @Option(help: "Stay in the group this many seconds after sending (a member that never speaks).")
        var linger: Double = 0.5
        func run() throws {
            let data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: file)
            guard let data else { throw fail("cannot read \(file)", code: 2) }
            let session: CorosyncSession
            do { session = try CorosyncSession(group: group) } catch { throw fail("\(error)", code: 1) }
            for _ in 0..<max(1, `repeat`) { session.send(Array(data)) }
            Thread.sleep(forTimeInterval: max(0.5, linger))
            session.stop()
            Thread.sleep(forTimeInterval: 0.2)
            print("sent \(max(1, `repeat`)) × \(data.count) bytes to group \(group) as node \(session.localNodeID)")
        }
    }
}
