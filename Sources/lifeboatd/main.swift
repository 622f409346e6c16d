import Foundation
import LifeboatCore
import LifeboatSystem
import LifeboatDaemon
import LifeboatFencing
import LifeboatOpenStack

/// lifeboatd: the Lifeboat daemon of one compute host.
///   lifeboatd [--config FILE]      (default /etc/lifeboat/lifeboatd.conf if it exists)

/// The pipe the SIGTERM/SIGINT handler writes to; a thread turns it into a graceful
/// shutdown. Plain Int32s: the handler must only read a word and call write(2).
nonisolated(unsafe) var signalReadFD: Int32 = -1
nonisolated(unsafe) var signalWriteFD: Int32 = -1

signal(SIGPIPE, SIG_IGN)

func usage() -> Never {
    FileHandle.standardError.write(Data("usage: lifeboatd [--config FILE]\n".utf8))
    exit(2)
}

var args = Array(CommandLine.arguments.dropFirst())
var configPath: String? = nil
while let a = args.first {
    args.removeFirst()
    switch a {
    case "--config":
        guard let p = args.first else { usage() }
        configPath = p
        args.removeFirst()
    case "-h", "--help": usage()
    default:
        FileHandle.standardError.write(Data("lifeboatd: unknown argument '\(a)'\n".utf8))
        usage()
    }
}

var configuration = DaemonConfiguration()
let path = configPath ?? (FileManager.default.fileExists(atPath: "/etc/lifeboat/lifeboatd.conf") ? "/etc/lifeboat/lifeboatd.conf" : nil)
if let path {
    do {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        configuration = try DaemonConfiguration.parse(text)
    } catch {
        FileHandle.standardError.write(Data("lifeboatd: \(path): \(error)\n".utf8))
        exit(2)
    }
}

Log.configure(levelName: configuration.logLevel, formatName: configuration.logFormat)

let daemon: Daemon
let shared = SharedClusterState()
do {
    var executors: [any ActionExecutor] = [FenceExecutor(shared: shared)]
    var cloud: CloudConnection? = nil
    if let o = configuration.openstack {
        let c = CloudConnection(cloud: o.cloud, file: o.cloudsYAML)
        cloud = c
        executors.append(
            NovaExecutor(cloud: c, shared: shared, maxParallelEvacuations: o.maxParallelEvacuations, evacuationTimeout: o.evacuationTimeout,
                pollInterval: o.pollInterval, migrationTimeout: o.migrationTimeout))
    }
    daemon = try Daemon(configuration: configuration, executors: executors, shared: shared, cloud: cloud)
} catch {
    FileHandle.standardError.write(Data("lifeboatd: \(error)\n".utf8))
    exit(2)
}

let control: ControlServer
do {
    control = try ControlServer(path: configuration.controlSocket, group: configuration.controlGroup) { request in await daemon.handleRequest(request) }
} catch {
    FileHandle.standardError.write(Data("lifeboatd: control socket: \(error)\n".utf8))
    exit(2)
}

var fds: [Int32] = [-1, -1]
pipe(&fds)
signalReadFD = fds[0]
signalWriteFD = fds[1]
let onSignal: @convention(c) (Int32) -> Void = { _ in
    var b: UInt8 = 1
    _ = write(signalWriteFD, &b, 1)
}
signal(SIGTERM, onSignal)
signal(SIGINT, onSignal)
let watcher = Thread {
    var b: UInt8 = 0
    while read(signalReadFD, &b, 1) < 0 && errno == EINTR {}
    Task { await daemon.shutdown() }
    // A second signal while the shutdown hangs ends the process at once.
    while read(signalReadFD, &b, 1) < 0 && errno == EINTR {}
    Log.error("second signal: exiting without a clean leave")
    _exit(1)
}
watcher.start()

if let api = configuration.api { daemon.startAPI(api) }

// Corosync's inputs and the actions they start run at high priority, operator commands
// (control socket, API) at the default medium: the daemon actor takes queued jobs by
// priority, so a membership change or a delivered fence start does not wait behind a
// burst of commands (under 200 commands a second, it did).
let status = await Task(priority: .high) { await daemon.run() }.value
control.close()
Log.info("stopped")
exit(status)
