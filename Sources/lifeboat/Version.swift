import ArgumentParser
import LifeboatSystem

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version and the system libraries it links.")

    func run() {
        print("lifeboat 0.1.0")
        print("corosync client libraries: linked (CS_OK=\(SystemLibraries.corosyncOK))")
        print("freeipmi: linked (templates usable: \(SystemLibraries.freeIPMITemplatesUsable()))")
    }
}
