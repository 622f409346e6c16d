import Foundation
import LifeboatAPI
import LifeboatCore
import Testing

/// The server shell on a real socket (loopback): Hummingbird's request turned into an
/// `APIRequest` (method, path, query, headers, the Host as `:authority`, the body and its
/// limit) and back, over plain HTTP and over TLS with a certificate from files; curl is the
/// client (Debian's curl and openssl, installed by Scripts/install-deps).
@Suite(.serialized) struct APIServerTests {
    /// Starts a server on 127.0.0.1 (a free port) and returns its port and task.
    func start(_ settings: APIServer.Settings) async throws -> (Int, Task<Void, Never>) {
        let api = MasakariAPI(backend: InMemoryBackend(try cluster()), auth: nil)
        let (ports, cont) = AsyncStream<Int>.makeStream()
        let server = APIServer(settings: settings, api: api)
        let task = Task {
            do { try await server.run { port in cont.yield(port) } } catch { cont.yield(-1) }
        }
        var port = -1
        for await p in ports {
            port = p
            break
        }
        try #require(port > 0, "the server did not start")
        return (port, task)
    }

    /// Runs curl on a Dispatch thread: waiting for it on the cooperative pool could starve
    /// the server under test of the threads it answers on (two on a 2-core machine).
    func curl(_ args: [String]) async throws -> (Int32, String) {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<(Int32, String), any Error>) in
            DispatchQueue.global().async {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
                p.arguments = ["-s", "--max-time", "60"] + args  // generous: other suites run beside it
                let out = Pipe()
                p.standardOutput = out
                do { try p.run() } catch {
                    cont.resume(throwing: error)
                    return
                }
                let data = out.fileHandleForReading.readDataToEndOfFile()
                p.waitUntilExit()
                cont.resume(returning: (p.terminationStatus, String(decoding: data, as: UTF8.self)))
            }
        }
    }

    @Test func test_plainHTTP_queryHeadersHostAndBodyLimit() async throws {
        let (port, task) = try await start(.init(address: "127.0.0.1", port: 0, maxBodyBytes: 4096))
        defer { task.cancel() }
        let (rc, v1) = try await curl(["-H", "Host: api.example:15868", "http://127.0.0.1:\(port)/v1"])
        #expect(rc == 0)
        let doc = try JSONParser.parse(v1)
        #expect(doc["version"]?["links"].flatMap { if case .array(let a) = $0 { a.first?["href"] } else { nil } } == .string("http://api.example:15868/v1/"))
        let (_, page) = try await curl(["-H", "OpenStack-API-Version: instance-ha 1.3", "http://127.0.0.1:\(port)/v1/segments?limit=1&sort_key=name&sort_dir=asc"])
        #expect(try JSONParser.parse(page)["segments"].map { if case .array(let a) = $0 { a.count } else { -1 } } == 1)
        let (_, code) = try await curl(["-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", "Content-Type: application/json",
                                  "--data-binary", String(repeating: "x", count: 10_000), "http://127.0.0.1:\(port)/v1/segments"])
        #expect(code == "413")
        let (_, fault) = try await curl(["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", #"{"segment":{"name":"x"}}"#,
                                   "http://127.0.0.1:\(port)/v1/segments"])
        #expect(try JSONParser.parse(fault)["badRequest"]?["code"] == .int(400))
    }

    @Test func test_TLS_withACertificateAndKeyFromFiles() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-tls-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cert = dir.appendingPathComponent("cert.pem").path
        let key = dir.appendingPathComponent("key.pem").path
        let gen = Process()
        gen.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        gen.arguments = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1"]
        gen.standardError = FileHandle.nullDevice
        try gen.run()
        gen.waitUntilExit()
        try #require(gen.terminationStatus == 0)
        let (port, task) = try await start(.init(address: "127.0.0.1", port: 0, certificateFile: cert, keyFile: key))
        defer { task.cancel() }
        let (rc, body) = try await curl(["--cacert", cert, "https://127.0.0.1:\(port)/v1"])
        #expect(rc == 0, "curl over TLS failed (\(rc))")
        #expect(try JSONParser.parse(body)["version"]?["version"] == .string("1.3"))
        let (_, code) = try await curl(["-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/v1"])
        #expect(code != "200", "plain HTTP must not be answered on the TLS port")
    }

    @Test func test_unreadableTLSFiles_failToStart_withTheReason() async throws {
        let api = MasakariAPI(backend: InMemoryBackend(try cluster()), auth: nil)
        let server = APIServer(settings: .init(address: "127.0.0.1", port: 0, certificateFile: "/nonexistent/cert.pem", keyFile: "/nonexistent/key.pem"), api: api)
        await #expect(throws: (any Error).self) { try await server.run() }
    }
}
