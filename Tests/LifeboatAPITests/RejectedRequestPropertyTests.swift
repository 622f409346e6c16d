import Foundation
import LifeboatAPI
import LifeboatCore
import PropertyBased
import Testing

/// Every endpoint's body and query parameters, mutated at random from a valid request: the
/// answer is never a 5xx, a refusal is a Masakari fault with its code, and a refused
/// request leaves the replicated state exactly as it was.
@Suite struct RejectedRequestPropertyTests {
    static let segUUID = "00000000-0000-4000-8000-00000000aaaa"

    /// Valid requests of every write endpoint (paths filled in against the test cluster).
    static func templates(_ s: ClusterState) -> [(String, String, JSONValue)] {
        let seg = s.segments["rack-a"]!.identity.uuid
        let host = s.hosts["c2"]!.identity.uuid
        return [
            ("POST", "/v1/segments", .object([("segment", .object([("name", .string("new")), ("recovery_method", .string("auto")), ("service_type", .string("COMPUTE")), ("description", .string("d"))]))])),
            ("PUT", "/v1/segments/\(seg)", .object([("segment", .object([("description", .string("x")), ("enabled", .bool(false))]))])),
            ("POST", "/v1/segments/\(seg)/hosts", .object([("host", .object([("name", .string("c4")), ("type", .string("COMPUTE")), ("control_attributes", .string("SSH")), ("reserved", .bool(true))]))])),
            ("PUT", "/v1/segments/\(seg)/hosts/\(host)", .object([("host", .object([("reserved", .bool(true)), ("type", .string("COMPUTE"))]))])),
            ("POST", "/v1/notifications", .object([("notification", .object([
                ("type", .string("COMPUTE_HOST")), ("hostname", .string("c2")), ("generated_time", .string("2026-11-26T13:27:49.916130")),
                ("payload", .object([("event", .string("STOPPED")), ("host_status", .string("NORMAL")), ("cluster_status", .string("OFFLINE"))])),
            ]))])),
            ("POST", "/v1/notifications", .object([("notification", .object([
                ("type", .string("PROCESS")), ("hostname", .string("c1")), ("generated_time", .string("2026-11-26 13:27:49")),
                ("payload", .object([("event", .string("STOPPED")), ("process_name", .string("nova-compute"))])),
            ]))])),
            ("PUT", "/lifeboat/v1/hosts/c3/maintenance", .object([("maintenance", .object([("on", .bool(true))]))])),
        ]
    }

    static let junk: [JSONValue] = [
        .null, .bool(true), .number(-1), .number(1e300), .string(""), .string(" padded "), .string(String(repeating: "x", count: 300)),
        .string("\u{0}\u{7}"), .array([]), .object([]), .string("teleport"), .string("2026-13-45T99:99:99"),
    ]

    /// One random change that may make the request invalid.
    static func mutate(_ v: JSONValue, _ rng: inout SplitMix64) -> JSONValue {
        guard case .object(let top) = v, case .object(var inner) = top[0].1 else { return v }
        switch rng.next() % 7 {
        case 0 where !inner.isEmpty: inner.remove(at: Int(rng.next() % UInt64(inner.count)))
        case 1: inner.append(("unexpected_\(rng.next() % 100)", .string("x")))
        case 2: return .object([("wrong_wrapper", .object(inner))])
        case 3: return .array([top[0].1])
        case 4 where !inner.isEmpty:
            // A field of the payload, when there is one, else of the object.
            let n = Int(rng.next() % UInt64(inner.count))
            if case .object(var payload) = inner[n].1, !payload.isEmpty {
                let k = Int(rng.next() % UInt64(payload.count))
                payload[k].1 = junk[Int(rng.next() % UInt64(junk.count))]
                inner[n].1 = .object(payload)
            } else {
                inner[n].1 = junk[Int(rng.next() % UInt64(junk.count))]
            }
        case 5: return .object(top + [("second", .object([]))])
        default:
            let n = Int(rng.next() % UInt64(max(1, inner.count)))
            if !inner.isEmpty { inner[n].1 = junk[Int(rng.next() % UInt64(junk.count))] }
        }
        return .object([(top[0].0, .object(inner))])
    }

    @Test func test_mutatedBodies_neverAFiveHundred_andARefusalChangesNothing() async throws {
        await propertyCheck(count: 400, input: Gen.int(in: 0...Int(Int32.max))) { seed in
            var rng = SplitMix64(seed: UInt64(seed))
            let start = try! cluster()
            let backend = InMemoryBackend(start)
            let api = MasakariAPI(backend: backend, auth: nil)
            let all = Self.templates(start)
            let (method, path, valid) = all[Int(rng.next() % UInt64(all.count))]
            var body = Self.mutate(valid, &rng)
            if rng.next() % 4 == 0 { body = Self.mutate(body, &rng) }
            var text = JSONWriter.write(body, timeKeys: [])
            if rng.next() % 10 == 0 { text = String(text.prefix(Int(rng.next() % UInt64(max(1, text.count))))) }  // cut short
            let version = ["1.0", "1.1", "1.2", "1.3"][Int(rng.next() % 4)]
            let r = await api.call(method, path, text, version: version)
            #expect(r.status < 500, "\(method) \(path) \(text) → \(r.status) \(String(decoding: r.body, as: UTF8.self))")
            if r.status >= 400 {
                let after = await backend.current
                #expect(after == start, "\(method) \(path) \(text) was refused (\(r.status)) but changed the state")
                guard case .object(let f) = r.json ?? .null, f.count == 1, case .number(let code) = f[0].1["code"] ?? .null else {
                    Issue.record("not a Masakari fault: \(String(decoding: r.body, as: UTF8.self))")
                    return
                }
                #expect(Int(code) == r.status)
            }
        }
    }

    @Test func test_randomQueryParameters_neverAFiveHundred_andReadsChangeNothing() async throws {
        let keys = ["limit", "marker", "sort_key", "sort_dir", "enabled", "recovery_method", "on_maintenance", "reserved", "status",
                    "generated-since", "type", "name", "source_host_uuid"]
        let values = ["", "-1", "0", "1", "1001", "abc", "true", "False", "asc", "desc", "name", "id", "created_at", "2026-01-01", "9999999999", "%00", "yes"]
        await propertyCheck(count: 300, input: Gen.int(in: 0...Int(Int32.max))) { seed in
            var rng = SplitMix64(seed: UInt64(seed))
            let start = try! cluster()
            let backend = InMemoryBackend(start)
            let api = MasakariAPI(backend: backend, auth: nil)
            let seg = start.segments["rack-a"]!.identity.uuid
            let paths = ["/v1/segments", "/v1/segments/\(seg)/hosts", "/v1/notifications", "/v1/segments/\(seg)", "/lifeboat/v1/history"]
            var query: [String] = []
            for _ in 0..<(1 + rng.next() % 4) {
                query.append("\(keys[Int(rng.next() % UInt64(keys.count))])=\(values[Int(rng.next() % UInt64(values.count))])")
            }
            let target = paths[Int(rng.next() % UInt64(paths.count))] + "?" + query.joined(separator: "&")
            let r = await api.call("GET", target)
            #expect(r.status < 500 && (r.status == 200 || r.status == 400), "GET \(target) → \(r.status) \(String(decoding: r.body, as: UTF8.self))")
            #expect(await backend.current == start)
        }
    }
}
