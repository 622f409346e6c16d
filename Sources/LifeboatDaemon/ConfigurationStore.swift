import Foundation
import LifeboatCore

/// Keeps the configuration part of the state on local disk (`STATE_DIR/config.json`), so a
/// whole-cluster restart loses nothing an operator configured. Written atomically: a
/// temporary file, fsync, rename.
public struct ConfigurationStore: Sendable {
    public let directory: String
    public var path: String { directory + "/config.json" }

    public init(directory: String) { self.directory = directory }

    /// The saved configuration and its version, or nil when none was saved yet.
    public func load() throws -> (ClusterConfiguration, UInt64)? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let json = try JSONParser.parse(bytes: Array(data))
        var r = try ObjectReader(json, at: path)
        let version = try r.int("version")
        let configuration = try ClusterConfiguration.parse(try r.required("cluster"))
        try r.finish()
        guard version >= 0 else { throw ScenarioError(path, "negative version") }
        return (configuration, UInt64(version))
    }

    public func save(_ configuration: ClusterConfiguration, version: UInt64) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let text = JSONWriter.write(.object([("version", .number(Double(version))), ("cluster", configuration.json)])) + "\n"
        let tmp = path + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: Data(text.utf8)) else {
            throw ScenarioError(tmp, "cannot write")
        }
        let fd = open(tmp, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
        guard rename(tmp, path) == 0 else { throw ScenarioError(path, "rename failed: \(String(cString: strerror(errno)))") }
    }
}
