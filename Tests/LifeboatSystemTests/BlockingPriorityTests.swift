import Foundation
import Testing

@testable import LifeboatSystem

/// The power-off of a lost host runs on an urgent thread (`Blocking.urgentNice`): under
/// load (operator commands, API writes) it gets a core before the daemon's other work. A
/// fence agent spawned from it inherits the nice value.
@Suite struct BlockingPriorityTests {
    /// Raising a priority needs root (CAP_SYS_NICE); without it the thread keeps the daemon's.
    static let privileged = geteuid() == 0

    @Test func test_urgentThread_runsAtUrgentNice_anOrdinaryOneAtTheProcesss() async {
        let process = Blocking.currentNice()
        let urgent = await Blocking.run("test-urgent", urgent: true) { Blocking.currentNice() }
        let ordinary = await Blocking.run("test-ordinary") { Blocking.currentNice() }
        #expect(ordinary == process)
        if Self.privileged {
            #expect(urgent == Blocking.urgentNice)
        } else {
            #expect(urgent == process)
        }
        // The caller's own thread is untouched.
        #expect(Blocking.currentNice() == process)
    }

    @Test(.enabled(if: privileged))
    func test_programSpawnedUrgently_inheritsTheNiceValue_anOrdinaryOneDoesNot() async throws {
        // /proc/self/stat's 19th field is the nice value (after the command in parentheses).
        let script = "cut -d')' -f2 /proc/self/stat | awk '{print $17}'"
        let urgent = await ProcessRunner().run("/bin/sh", arguments: ["-c", script], timeout: 10, urgent: true)
        let ordinary = await ProcessRunner().run("/bin/sh", arguments: ["-c", script], timeout: 10)
        #expect(urgent.exitCode == 0 && ordinary.exitCode == 0)
        #expect(urgent.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(Blocking.urgentNice)")
        #expect(ordinary.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(Blocking.currentNice())")
    }
}
