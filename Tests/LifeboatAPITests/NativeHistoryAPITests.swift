import Foundation
import LifeboatAPI
import LifeboatCore
import Testing

/// Lifeboat's own history paths and /metrics: the request each query makes, and the 400s
/// of bad queries (the lab tests run them against a real database).
@Suite struct NativeHistoryAPITests {
    func api(auth: (any TokenValidator)? = nil) throws -> MasakariAPI {
        let s = ClusterState(configuration: ClusterConfiguration(
            segments: [Segment(name: "a", recoveryMethod: .auto)],
            hosts: [Host(name: "h1", segment: "a", nodeID: 1, capacity: Capacity(vcpus: 4, ramMB: 4096, diskGB: 40))], instances: []))
        return MasakariAPI(backend: InMemoryBackend(s), auth: auth)
    }

    @Test func test_metrics_needNoToken_andAreTextExposition() async throws {
        let r = await try api(auth: TableValidator(table: [:])).call("GET", "/metrics", version: nil)
        #expect(r.status == 200)
        #expect(r.headers.contains { $0 == ("Content-Type", "text/plain; version=0.0.4; charset=utf-8") })
        #expect(String(decoding: r.body, as: UTF8.self).contains("lifeboat_members 0"))
        let post = await try api().call("POST", "/metrics", version: nil)
        #expect(post.status == 405)
    }

    @Test func test_historyQuery_becomesTheRequest_withTimesResolved() async throws {
        let r = await try api().call("GET", "/lifeboat/v1/history?host=h1&kind=fence,evacuate&since=2026-11-24&until=2026-11-25T10:00:00Z&limit=5&incident=3", version: nil)
        #expect(r.status == 200)
        let q = try #require(r.json?["request"])
        #expect(q["cmd"] == .string("history") && q["host"] == .string("h1"))
        #expect(q["kinds"] == .array([.string("fence"), .string("evacuate")]))
        #expect(q["since"] == .number(1_795_478_400))  // 2026-11-24T00:00:00Z
        #expect(q["until"] == .number(1_795_600_800))
        #expect(q["limit"] == .number(5) && q["incident"] == .number(3))
        #expect(r.json?["ok"] == nil)
    }

    @Test func test_badHistoryQueries_are400_withTheReason() async throws {
        let api = try api()
        for (target, words) in [
            ("/lifeboat/v1/history?since=yesterday", "not a time"), ("/lifeboat/v1/history?limit=-1", "whole number"),
            ("/lifeboat/v1/history?colour=red", "unknown query parameter 'colour'"), ("/lifeboat/v1/history?host=", "must not be empty"),
            ("/lifeboat/v1/incidents/abc", "whole number"), ("/lifeboat/v1/incidents/0", "whole number"),
            ("/lifeboat/v1/report?format=pdf", "format must be"), ("/lifeboat/v1/incidents?incident=2", "unknown query parameter"),
        ] {
            let r = await api.call("GET", target, version: nil)
            #expect(r.status == 400, "\(target)")
            let message: String = if case .string(let m) = r.json?["badRequest"]?["message"] ?? .null { m } else { "" }
            #expect(message.contains(words), "\(target): \(message)")
        }
    }

    @Test func test_historyPaths_needTheAdminRole() async throws {
        let r = await try api(auth: TableValidator(table: [:])).call("GET", "/lifeboat/v1/incidents", version: nil)
        #expect(r.status == 401)
    }
}
