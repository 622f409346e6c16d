import Foundation
import LifeboatAPI
import LifeboatCore
import Testing

/// `GET /v1/notifications` filters, sorts and pages the records before rendering only the
/// page. Checked against an oracle written here over the rendered full list: whatever the
/// query, the answer is what filtering and sorting what the client reads would give.
@Suite struct NotificationListTests {
    @Test func test_filteredSortedPagedList_equalsTheOracleOverTheRenderedItems() async throws {
        let backend = InMemoryBackend(try cluster())
        let api = MasakariAPI(backend: backend, auth: nil)
        for n in 0..<24 {
            let host = ["c1", "c2", "c3"][n % 3]
            let body: String
            switch n % 4 {
            case 0:
                // A failed nova-compute: running until it is recovered (some later are).
                body = #"{"type":"PROCESS","hostname":"\#(host)","generated_time":"2026-11-2\#(n % 7)T10:\#(10 + n):00","payload":{"event":"STOPPED","process_name":"nova-compute"}}"#
            case 1:
                body = #"{"type":"PROCESS","hostname":"\#(host)","generated_time":"2026-11-2\#(n % 5)T09:\#(10 + n):00","payload":{"event":"STOPPED","process_name":"sshd"}}"#
            default:
                body = #"{"type":"VM","hostname":"\#(host)","generated_time":"2026-11-2\#(n % 6)T08:\#(10 + n):00","payload":{"event":"LIFECYCLE","instance_uuid":"00000000-1111-4000-8000-\#(String(format: "%012d", n))","vir_domain_event":"STOPPED_FAILED"}}"#
            }
            let r = await api.call("POST", "/v1/notifications", #"{"notification":\#(body)}"#)
            #expect(r.status == 202, "\(body): \(r.status)")
            if n == 12 { try await backend.recoverEverything() }  // some finish, so updated_at differs
        }
        let all = try items(await api.call("GET", "/v1/notifications?limit=1000"))
        #expect(all.count == 24)
        let statuses = Set(all.compactMap { $0["status"] })
        #expect(statuses.count >= 2, "the statuses vary: \(statuses)")

        let sorts = ["id", "notification_uuid", "type", "status", "generated_time", "source_host_uuid", "failover_segment_uuid", "created_at", "updated_at"]
        var checked = 0
        for key in sorts {
            for dir in ["asc", "desc"] {
                for filter in ["", "&status=ignored", "&type=VM", "&generated-since=2026-11-23T00:00:00"] {
                    let expected = oracle(all, sort: [(key, dir == "asc")], filter: filter)
                    let got = try ids(await api.call("GET", "/v1/notifications?sort_key=\(key)&sort_dir=\(dir)\(filter)"))
                    #expect(got == expected, "sort \(key) \(dir)\(filter)")
                    // The same order in pages of 5 through the integer marker.
                    var paged: [Int] = []
                    var marker = ""
                    while true {
                        let page = try ids(await api.call("GET", "/v1/notifications?sort_key=\(key)&sort_dir=\(dir)\(filter)&limit=5\(marker)"))
                        paged += page
                        guard page.count == 5, let last = page.last else { break }
                        marker = "&marker=\(last)"
                    }
                    #expect(paged == expected, "paged: sort \(key) \(dir)\(filter)")
                    checked += 1
                }
            }
        }
        // Two keys: the second breaks the first's ties.
        let two = try ids(await api.call("GET", "/v1/notifications?sort_key=type&sort_dir=asc&sort_key=generated_time&sort_dir=desc"))
        #expect(two == oracle(all, sort: [("type", true), ("generated_time", false)], filter: ""))
        #expect(checked == sorts.count * 8)
    }

    func items(_ r: APIResponse) throws -> [JSONValue] {
        guard case .array(let a) = r.at("notifications") ?? .null else { throw Failure("no notifications in \(r.status)") }
        return a
    }

    func ids(_ r: APIResponse) throws -> [Int] {
        try items(r).map { i in
            guard case .number(let d) = i["id"] ?? .null else { throw Failure("an item without id") }
            return Int(d)
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// Masakari's rules over the rendered items: filter by equality (`generated-since`: at
    /// least that time), sort by the keys with nulls first, then by id in the last key's
    /// direction.
    func oracle(_ all: [JSONValue], sort: [(String, Bool)], filter: String) -> [Int] {
        var kept = all
        for part in filter.split(separator: "&") {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            if kv[0] == "generated-since" {
                kept = kept.filter { if case .string(let t) = $0["generated_time"] ?? .null { t >= kv[1] + ".000000" } else { false } }
            } else {
                kept = kept.filter { $0[kv[0]] == .string(kv[1]) }
            }
        }
        func text(_ v: JSONValue?) -> String? {
            switch v ?? .null {
            case .string(let s): s
            case .number(let d): String(format: "%020.0f", d)
            default: nil
            }
        }
        let keys = sort + [("id", sort.last!.1)]
        return kept.sorted { a, b in
            for (k, asc) in keys {
                let x = text(a[k])
                let y = text(b[k])
                if x == y { continue }
                guard let x else { return asc }
                guard let y else { return !asc }
                return asc ? x < y : x > y
            }
            return false
        }.compactMap { if case .number(let d) = $0["id"] ?? .null { Int(d) } else { nil } }
    }
}
