import Foundation
import LifeboatCore
import Testing

@testable import LifeboatDaemon

/// The control socket at start: a lifeboatd killed a moment ago may hold it while its last
/// threads exit; a live one holds it for good.
@Suite struct ControlServerTests {
    static func path(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-control-\(getpid())-\(name)")
        try? FileManager.default.removeItem(at: dir)
        return dir.appendingPathComponent("lifeboatd.sock").path
    }

    @Test func test_aSocketReleasedSoonAfter_isTakenOver() throws {
        let path = Self.path("released")
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let dying = try UnixSocket.listen(at: path)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.8) { close(dying) }
        let t0 = ContinuousClock.now
        let server = try ControlServer(path: path) { _ in .object([("ok", .bool(true))]) }
        #expect(ContinuousClock.now - t0 >= .milliseconds(700), "it waited for the old socket to go")
        #expect(server.path == path)
        let c = try UnixSocket.connect(to: path)  // the new one answers at the path
        close(c)
    }

    @Test func test_aSocketHeldForGood_isRefusedWithAClearError() throws {
        let path = Self.path("held")
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let live = try UnixSocket.listen(at: path)
        defer { close(live) }
        let t0 = ContinuousClock.now
        do {
            _ = try ControlServer(path: path) { _ in .null }
            Issue.record("took over a socket that a live process listens on")
        } catch let e as ScenarioError {
            #expect("\(e)".contains("another lifeboatd is already answering"), "\(e)")
        }
        #expect(ContinuousClock.now - t0 >= ControlServer.previousDaemonExit)
    }
}
