import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatCorosync
import LifeboatFencing

/// Tools for tests and troubleshooting.
struct Debug: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Troubleshooting tools (not for everyday use).", subcommands: [CPGSend.self, IPMICommand.self])

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

    /// Talks to one BMC directly, in-process, as the fencer does.
    struct IPMICommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ipmi", abstract: "Power status/off/on or the SOL history of one BMC, as the fencer does it.")
        @Argument(help: "status, off, on, cycle or console.") var operation: String
        @Option(help: "BMC address.") var address: String
        @Option(help: "BMC UDP port.") var port = 623
        @Option(help: "User name.") var username = "admin"
        @Option(help: "File with the password (mode 600).") var passwordFile: String
        @Option(help: "FreeIPMI workaround names, comma separated.") var workarounds = "opensesspriv,solchannelsupport,solpayloadsize"
        @Option(help: "Seconds.") var timeout = 5.0

        func run() async throws {
            var s = IPMISettings(address: address, port: port, username: username, passwordFile: passwordFile)
            s.workarounds = workarounds.split(separator: ",").map(String.init)
            let device = IPMIDevice(s, host: address, timeout: timeout)
            let start = ContinuousClock.now
            switch operation {
            case "status":
                switch await device.powerIsOn() {
                case .success(let on): print("power \(on ? "on" : "off")")
                case .failure(let e): throw fail(e.message, code: 1)
                }
            case "off":
                let r: IPMIDevice.OffResult = await device.powerOff(check: { nil })
                print("\(r.outcome.rawValue)\(r.wasOff ? " (was off)" : "")\(r.error.map { ": \($0)" } ?? "")")
                if r.outcome != .off { throw ExitCode(1) }
            case "on", "cycle":
                if case .failure(let e) = await device.control(on: operation == "on") { throw fail(e.message, code: 1) }
                print("ok")
            case "console":
                switch await SerialConsole.capture(s, host: address, timeout: timeout) {
                case .captured(let text): print(text, terminator: "")
                case .unavailable(let why): throw fail(why, code: 1)
                }
            default: throw fail("unknown operation '\(operation)' (status, off, on, cycle, console)", code: 2)
            }
            let d = ContinuousClock.now - start
            FileHandle.standardError.write(Data("took \(d.wholeMilliseconds) ms\n".utf8))
        }
    }
}
