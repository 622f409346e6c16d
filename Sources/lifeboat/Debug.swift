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
        func run() throws {
            let data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: file)
            guard let data else { throw fail("cannot read \(file)", code: 2) }
            let session: CorosyncSession
            do { session = try CorosyncSession(group: group) } catch { throw fail("\(error)", code: 1) }
            session.send(Array(data))
            Thread.sleep(forTimeInterval: 0.5)
            session.stop()
            Thread.sleep(forTimeInterval: 0.2)
            print("sent \(data.count) bytes to group \(group) as node \(session.localNodeID)")
        }
    }
}
