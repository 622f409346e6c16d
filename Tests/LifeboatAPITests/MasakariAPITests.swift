import Foundation
import LifeboatAPI
import LifeboatCore
import Testing

/// Masakari v1 as its clients see it (MASAKARI-API.md), against an in-memory backend: the
/// shapes, codes and rules; the real CLI and Keystone run in the lab tests.
@Suite struct MasakariAPITests {
    func api(_ s: ClusterState? = nil, auth: (any TokenValidator)? = nil) throws -> (MasakariAPI, InMemoryBackend) {
        let backend = InMemoryBackend(try s ?? cluster())
        let counter = Counter()
        let api = MasakariAPI(backend: backend, auth: auth, newUUID: { counter.next() })
        return (api, backend)
    }

    final class Counter: @unchecked Sendable {
        let lock = NSLock()
        var n = 0
        func next() -> String {
            lock.lock()
            defer { lock.unlock() }
            n += 1
            return String(format: "00000000-0000-4000-8000-%012d", n)
        }
    }

    @Test func test_versionDocuments_advertise1_3_withoutAuth() async throws {
        let (api, _) = try api(auth: TableValidator(table: [:]))
        let root = await api.call("GET", "/", version: nil)
        #expect(root.status == 200)
        #expect(root.at("versions", "0", "version") == .string("1.3"))
        #expect(root.at("versions", "0", "min_version") == .string("1.0"))
        let v1 = await api.call("GET", "/v1/", version: nil)
        #expect(v1.status == 200)
        #expect(v1.at("version", "id") == .string("v1.0"))
        #expect(v1.at("version", "links", "0", "href") == .string("http://api.test:15868/v1/"))
        #expect(v1.at("version", "media-types", "0", "type") == .string("application/vnd.openstack.masakari+json;version=1"))
    }

    @Test func test_microversions_noneIs1_0_latestIs1_3_outsideIs406_malformedIs400() async throws {
        let (api, _) = try api()
        let none = await api.call("GET", "/v1/segments", version: nil)
        #expect(none.status == 200)
        #expect(none.headers.contains { $0 == ("OpenStack-API-Version", "instance-ha 1.0") })
        let latest = await api.call("GET", "/v1/segments", version: "latest")
        #expect(latest.headers.contains { $0 == ("OpenStack-API-Version", "instance-ha 1.3") })
        let high = await api.call("GET", "/v1/segments", version: "1.9")
        #expect(high.status == 406)
        #expect(high.json?["masakariFault"]?["code"] == .int(406))
        let bad = await api.call("GET", "/v1/segments", version: "one")
        #expect(bad.status == 400)
        #expect(bad.json?["badRequest"]?["code"] == .int(400))
    }

    @Test func test_segment_createShowUpdateDelete_withMasakariShapes() async throws {
        let (api, backend) = try api()
        let created = await api.call("POST", "/v1/segments", #"{"segment":{"name":"rack-b","recovery_method":"reserved_host","service_type":"COMPUTE","description":"second"}}"#)
        #expect(created.status == 201)
        let uuid = try #require(created.at("segment", "uuid").flatMap { if case .string(let s) = $0 { s } else { nil } })
        #expect(created.at("segment", "enabled") == .bool(true))
        #expect(created.at("segment", "deleted") == .bool(false))
        if case .number(let id) = created.at("segment", "id") ?? .null { #expect(id > 0) } else { Issue.record("no integer id") }
        let shown = await api.call("GET", "/v1/segments/\(uuid)")
        #expect(shown.status == 200)
        #expect(shown.at("segment", "description") == .string("second"))
        #expect(shown.at("segment", "updated_at") == .null)

        let updated = await api.call("PUT", "/v1/segments/\(uuid)", #"{"segment":{"description":"d1","enabled":false}}"#)
        #expect(updated.status == 200)
        #expect(updated.at("segment", "enabled") == .bool(false))
        #expect(updated.at("segment", "description") == .string("d1"))
        #expect(await backend.current.segments["rack-b"]?.enabled == false)

        let renamed = await api.call("PUT", "/v1/segments/\(uuid)", #"{"segment":{"name":"rack-c"}}"#)
        #expect(renamed.status == 200)
        #expect(await backend.current.segments["rack-c"]?.identity.uuid == uuid)

        let deleted = await api.call("DELETE", "/v1/segments/\(uuid)")
        #expect(deleted.status == 204)
        #expect(deleted.body.isEmpty)
        #expect(await api.call("GET", "/v1/segments/\(uuid)").status == 404)
    }

    @Test func test_segmentErrors_duplicate409_badBody400NamingTheField_enabledBelow1_2_andStateUntouched() async throws {
        let (api, backend) = try api()
        let before = await backend.current
        let dup = await api.call("POST", "/v1/segments", #"{"segment":{"name":"rack-a","recovery_method":"auto","service_type":"COMPUTE"}}"#)
        #expect(dup.status == 409)
        #expect(dup.json?["conflictingRequest"] != nil)
        let extra = await api.call("POST", "/v1/segments", #"{"segment":{"name":"x","recovery_method":"auto","service_type":"COMPUTE","color":"red"}}"#)
        #expect(extra.status == 400)
        #expect(extra.faultMessage?.contains("'color' was unexpected") == true)
        let method = await api.call("POST", "/v1/segments", #"{"segment":{"name":"x","recovery_method":"fast","service_type":"COMPUTE"}}"#)
        #expect(method.status == 400)
        #expect(method.faultMessage?.contains("recovery_method") == true)
        let spaces = await api.call("POST", "/v1/segments", #"{"segment":{"name":" x","recovery_method":"auto","service_type":"COMPUTE"}}"#)
        #expect(spaces.status == 400)
        let enabled = await api.call("POST", "/v1/segments", #"{"segment":{"name":"x","recovery_method":"auto","service_type":"COMPUTE","enabled":false}}"#, version: "1.1")
        #expect(enabled.status == 400)
        let notJSON = await api.call("POST", "/v1/segments", "{segment")
        #expect(notJSON.status == 400)
        let emptyUpdate = await api.call("PUT", "/v1/segments/\(before.segments["rack-a"]!.identity.uuid)", #"{"segment":{}}"#)
        #expect(emptyUpdate.status == 400)
        #expect(await backend.current == before)
        #expect(await backend.submitted.isEmpty)
    }

    @Test func test_lists_filterSortAndPage_byIntegerMarker() async throws {
        let (api, _) = try api()
        for n in 0..<5 {
            let r = await api.call("POST", "/v1/segments", #"{"segment":{"name":"s\#(n)","recovery_method":"\#(n % 2 == 0 ? "auto" : "rh_priority")","service_type":"COMPUTE"}}"#)
            #expect(r.status == 201)
        }
        var names: [String] = []
        var marker: String? = nil
        for _ in 0..<10 {
            let page = await api.call("GET", "/v1/segments?limit=2&sort_key=name&sort_dir=asc" + (marker.map { "&marker=\($0)" } ?? ""))
            #expect(page.status == 200)
            guard case .array(let items) = page.at("segments") ?? .null, !items.isEmpty else { break }
            #expect(items.count <= 2)
            for i in items { if case .string(let n) = i["name"] ?? .null { names.append(n) } }
            if case .number(let id) = items.last!["id"] ?? .null { marker = String(Int(id)) }
        }
        #expect(names == ["rack-a", "s0", "s1", "s2", "s3", "s4"])
        let auto = await api.call("GET", "/v1/segments?recovery_method=auto&service_type=COMPUTE&sort_key=name&sort_dir=desc")
        let autoNames: [JSONValue] = auto.at("segments").map { v -> [JSONValue] in if case .array(let a) = v { a.compactMap { $0["name"] } } else { [] } } ?? []
        #expect(autoNames == [.string("s4"), .string("s2"), .string("s0"), .string("rack-a")])
        #expect(await api.call("GET", "/v1/segments?marker=999").status == 400)
        #expect(await api.call("GET", "/v1/segments?limit=-1").status == 400)
        #expect(await api.call("GET", "/v1/segments?sort_key=colour").status == 400)
        #expect(await api.call("GET", "/v1/segments?enabled=maybe").status == 400)
    }

    @Test func test_hosts_onlyClusterNodesJoin_duplicates409_unknown400_deleteDetaches() async throws {
        let (api, backend) = try api()
        let seg = await backend.current.segments["rack-a"]!.identity.uuid
        let list = await api.call("GET", "/v1/segments/\(seg)/hosts")
        #expect(list.status == 200)
        #expect(list.at("hosts", "0", "failover_segment_id") == .string(seg))
        #expect(list.at("hosts", "0", "failover_segment", "uuid") == .string(seg))
        let unknown = await api.call("POST", "/v1/segments/\(seg)/hosts", #"{"host":{"name":"nowhere","type":"COMPUTE","control_attributes":"SSH"}}"#)
        #expect(unknown.status == 400)
        let dup = await api.call("POST", "/v1/segments/\(seg)/hosts", #"{"host":{"name":"c1","type":"COMPUTE","control_attributes":"SSH"}}"#)
        #expect(dup.status == 409)
        await backend.setComputes(["c1", "c2", "c3"])
        let notInNova = await api.call("POST", "/v1/segments/\(seg)/hosts", #"{"host":{"name":"c4","type":"COMPUTE","control_attributes":"SSH"}}"#)
        #expect(notInNova.status == 400)
        #expect(notInNova.faultMessage?.contains("Compute service for host c4") == true)
        await backend.setComputes(nil)
        let created = await api.call("POST", "/v1/segments/\(seg)/hosts", #"{"host":{"name":"c4","type":"COMPUTE","control_attributes":"SSH","reserved":"yes"}}"#)
        #expect(created.status == 201)
        #expect(created.at("host", "reserved") == .bool(true))
        #expect(created.at("host", "control_attributes") == .string("SSH"))
        let h = try #require(created.at("host", "uuid").flatMap { if case .string(let s) = $0 { s } else { nil } })
        #expect(await backend.current.hosts["c4"]?.nodeID == 10)
        let maint = await api.call("PUT", "/v1/segments/\(seg)/hosts/\(h)", #"{"host":{"on_maintenance":true}}"#)
        #expect(maint.status == 200)
        #expect(await backend.current.hosts["c4"]?.maintenance == true)
        let rename = await api.call("PUT", "/v1/segments/\(seg)/hosts/\(h)", #"{"host":{"name":"c9"}}"#)
        #expect(rename.status == 409)
        let filtered = await api.call("GET", "/v1/segments/\(seg)/hosts?on_maintenance=True")
        #expect(filtered.at("hosts").map { if case .array(let a) = $0 { a.count } else { -1 } } == 1)
        #expect(await api.call("DELETE", "/v1/segments/\(seg)/hosts/\(h)").status == 204)
        #expect(await backend.current.hosts["c4"] == nil)
        #expect(await backend.current.detachedHosts["c4"] != nil)
        #expect(await api.call("GET", "/v1/segments/\(seg)/hosts/\(h)").status == 404)
    }

    @Test func test_computeHostStopped_fencesFirst_followsTheRecovery_toFinished_withStepsAndVmoves() async throws {
        let (api, backend) = try api()
        let body = #"{"notification":{"type":"COMPUTE_HOST","hostname":"c1","generated_time":"2026-11-26 13:27:49","payload":{"event":"STOPPED","host_status":"NORMAL","cluster_status":"OFFLINE"}}}"#
        let posted = await api.call("POST", "/v1/notifications", body, version: nil)
        #expect(posted.status == 202)
        #expect(posted.at("notification", "generated_time") == .string("2026-11-26T13:27:49.000000"))
        #expect(posted.at("notification", "status") == .string("running"))
        #expect(posted.at("notification", "source_host_uuid") == .string(await backend.current.hosts["c1"]!.identity.uuid))
        let id = try #require(posted.at("notification", "notification_uuid").flatMap { if case .string(let s) = $0 { s } else { nil } })
        #expect(await backend.current.hosts["c1"]?.recovery?.cause == .notification)
        // The plan starts with the fence: a notification never skips it.
        #expect(Scheduler.plan(await backend.current).first == .fence(host: "c1"))
        let dup = await api.call("POST", "/v1/notifications", body)
        #expect(dup.status == 409)

        try await backend.recoverEverything()
        let shown = await api.call("GET", "/v1/notifications/\(id)")
        #expect(shown.at("notification", "status") == .string("finished"))
        guard case .array(let steps) = shown.at("notification", "recovery_workflow_details") ?? .null else {
            Issue.record("no recovery_workflow_details")
            return
        }
        let stepNames: [JSONValue] = steps.compactMap { $0["name"] }
        #expect(stepNames == ["FenceHostTask", "ForceDownComputeServiceTask", "DisableComputeServiceTask", "EvacuateInstancesTask"].map { JSONValue.string($0) })
        #expect(steps.allSatisfy { $0["state"] == .string("SUCCESS") && $0["progress"] == .number(1) })
        let v10 = await api.call("GET", "/v1/notifications/\(id)", version: "1.0")
        #expect(v10.at("notification", "recovery_workflow_details") == nil)

        let moves = await api.call("GET", "/v1/notifications/\(id)/vmoves")
        #expect(moves.status == 200)
        guard case .array(let list) = moves.at("vmoves") ?? .null else { Issue.record("no vmoves"); return }
        #expect(list.count == 2)
        #expect(list.allSatisfy { $0["status"] == .string("succeeded") && $0["source_host"] == .string("c1") && $0["type"] == .string("evacuation") })
        let one = try #require(list.first?["uuid"].flatMap { if case .string(let s) = $0 { s } else { nil } })
        #expect(await api.call("GET", "/v1/notifications/\(id)/vmoves/\(one)").at("vmove", "uuid") == .string(one))
        let listed = await api.call("GET", "/v1/notifications?status=finished&generated-since=2026-11-26T00:00:00")
        #expect(listed.at("notifications").map { if case .array(let a) = $0 { a.count } else { -1 } } == 1)
    }

    @Test func test_notificationErrors_unknownHost400_maintenance409_badPayload400_stateUntouched() async throws {
        let (api, backend) = try api()
        _ = await backend.submit(.maintenance(host: "c2", on: true))
        let before = await backend.current
        func post(_ n: String) async -> APIResponse { await api.call("POST", "/v1/notifications", #"{"notification":\#(n)}"#) }
        #expect(await post(#"{"type":"COMPUTE_HOST","hostname":"zz","generated_time":"2026-11-26T00:00:00","payload":{"event":"STOPPED"}}"#).status == 400)
        #expect(await post(#"{"type":"COMPUTE_HOST","hostname":"c2","generated_time":"2026-11-26T00:00:00","payload":{"event":"STOPPED"}}"#).status == 409)
        #expect(await post(#"{"type":"COMPUTE_HOST","hostname":"c1","generated_time":"2026-11-26T00:00:00","payload":{"event":"GONE"}}"#).status == 400)
        #expect(await post(#"{"type":"COMPUTE_HOST","hostname":"c1","generated_time":"yesterday","payload":{"event":"STOPPED"}}"#).status == 400)
        #expect(await post(#"{"type":"PROCESS","hostname":"c1","generated_time":"2026-11-26T00:00:00","payload":{"event":"STOPPED"}}"#).status == 400)
        #expect(await post(#"{"type":"VM","hostname":"c1","generated_time":"2026-11-26T00:00:00","payload":{"event":"LIFECYCLE","instance_uuid":"nope","vir_domain_event":"STOPPED_FAILED"}}"#).status == 400)
        #expect(await post(#"{"type":"DISK","hostname":"c1","generated_time":"2026-11-26T00:00:00","payload":{}}"#).status == 400)
        #expect(await post(#"{"type":"COMPUTE_HOST","hostname":"c1","generated_time":"2026-11-26T00:00:00","payload":{"event":"STOPPED"},"extra":1}"#).status == 400)
        #expect(await backend.current == before)
    }

    /// The list body is cached per state version: asked again, the same bytes; after any
    /// write, the new state; another query, its own body.
    @Test func test_notificationList_cachedBody_followsEveryChangeOfTheState() async throws {
        let (api, backend) = try api()
        func count(_ r: APIResponse) -> Int { r.at("notifications").map { if case .array(let a) = $0 { a.count } else { -1 } } ?? -1 }
        func head(_ r: APIResponse, _ key: String) -> JSONValue? { if case .array(let a) = r.at("notifications") ?? .null { a.first?[key] } else { nil } }
        let empty = await api.call("GET", "/v1/notifications")
        #expect(count(empty) == 0)
        let p = await api.call("POST", "/v1/notifications", #"{"notification":{"type":"PROCESS","hostname":"c2","generated_time":"2026-11-26T10:00:00","payload":{"event":"STOPPED","process_name":"nova-compute"}}}"#)
        #expect(p.status == 202)
        let first = await api.call("GET", "/v1/notifications")
        #expect(count(first) == 1 && head(first, "status") == .string("running"))
        #expect(await api.call("GET", "/v1/notifications").body == first.body)
        #expect(count(await api.call("GET", "/v1/notifications?status=finished")) == 0)
        // The recovery moves on: the next list says so (no stale body).
        try await backend.recoverEverything()
        let after = await api.call("GET", "/v1/notifications")
        #expect(head(after, "status") == .string("finished"))
        #expect(count(await api.call("GET", "/v1/notifications?status=finished")) == 1)
    }

    @Test func test_processAndVMNotifications_becomeMonitorEvents_andFinishWhenRecovered() async throws {
        let (api, backend) = try api()
        let p = await api.call("POST", "/v1/notifications", #"{"notification":{"type":"PROCESS","hostname":"c2","generated_time":"2026-11-26T10:00:00","payload":{"event":"STOPPED","process_name":"nova-compute"}}}"#)
        #expect(p.status == 202)
        #expect(p.at("notification", "status") == .string("running"))
        #expect(await backend.current.hosts["c2"]?.processes["nova-compute"]?.failed == true)
        let other = await api.call("POST", "/v1/notifications", #"{"notification":{"type":"PROCESS","hostname":"c2","generated_time":"2026-11-26T10:00:00","payload":{"event":"STOPPED","process_name":"sshd"}}}"#)
        #expect(other.at("notification", "status") == .string("ignored"))
        let vm = await api.call("POST", "/v1/notifications", #"{"notification":{"type":"VM","hostname":"c1","generated_time":"2026-11-26T10:00:00","payload":{"event":"LIFECYCLE","instance_uuid":"11111111-2222-4333-8444-555555555555","vir_domain_event":"STOPPED_FAILED"}}}"#)
        #expect(vm.status == 202)
        #expect(await backend.current.instances["11111111-2222-4333-8444-555555555555"]?.state == .failed)
        try await backend.recoverEverything()
        for r in [p, vm] {
            guard case .string(let id) = r.at("notification", "notification_uuid") ?? .null else { Issue.record("no uuid"); continue }
            #expect(await api.call("GET", "/v1/notifications/\(id)").at("notification", "status") == .string("finished"))
        }
        guard case .string(let vid) = vm.at("notification", "notification_uuid") ?? .null else { return }
        #expect(await api.call("GET", "/v1/notifications/\(vid)/vmoves").status == 400)
    }

    @Test func test_auth_noToken401_nonAdmin403_admin200_projectMismatch400() async throws {
        let admin = Caller(user: "admin", project: "abc123", roles: ["admin", "member"], expires: .infinity)
        let reader = Caller(user: "r", project: "abc123", roles: ["reader"], expires: .infinity)
        let (api, backend) = try api(auth: TableValidator(table: ["A": admin, "R": reader]))
        let none = await api.call("GET", "/v1/segments")
        #expect(none.status == 401)
        #expect(none.headers.contains { $0.0 == "WWW-Authenticate" && $0.1.contains("keystone.test") })
        #expect(await api.call("GET", "/v1/segments", token: "expired").status == 401)
        #expect(await api.call("GET", "/v1/segments", token: "R").status == 403)
        #expect(await api.call("POST", "/v1/segments", #"{"segment":{"name":"x","recovery_method":"auto","service_type":"C"}}"#, token: "R").status == 403)
        #expect(await backend.submitted.isEmpty)
        #expect(await api.call("GET", "/v1/segments", token: "A").status == 200)
        #expect(await api.call("GET", "/v1/abc123/segments", token: "A").status == 200)
        #expect(await api.call("GET", "/v1/def456/segments", token: "A").status == 400)
        #expect(await api.call("GET", "/lifeboat/v1/status").status == 401)
        #expect(await api.call("GET", "/lifeboat/v1/status", token: "A").status == 200)
    }

    @Test func test_withoutQuorum_writesGet503_readsStillAnswer() async throws {
        var s = try cluster()
        try s.apply(.quorum(quorate: false), at: 1_790_000_000)
        let (api, backend) = try api(s)
        let before = await backend.current
        let w = await api.call("POST", "/v1/segments", #"{"segment":{"name":"x","recovery_method":"auto","service_type":"COMPUTE"}}"#)
        #expect(w.status == 503)
        #expect(w.faultMessage?.contains("quorum") == true)
        #expect(await api.call("GET", "/v1/segments").status == 200)
        #expect(await backend.current == before)
    }

    @Test func test_native_fenceConfirmMaintenance_andUnknownPaths() async throws {
        let (api, backend) = try api()
        #expect(await api.call("POST", "/lifeboat/v1/hosts/c2/fence").status == 202)
        #expect(await backend.current.hosts["c2"]?.recovery?.cause == .operatorRequest)
        #expect(await api.call("POST", "/lifeboat/v1/hosts/c2/fence").status == 409)
        #expect(await api.call("PUT", "/lifeboat/v1/hosts/c3/maintenance", #"{"maintenance":{"on":true}}"#).status == 202)
        #expect(await backend.current.hosts["c3"]?.maintenance == true)
        #expect(await api.call("PUT", "/lifeboat/v1/hosts/c3/maintenance", #"{"maintenance":{"on":"perhaps"}}"#).status == 400)
        #expect(await api.call("POST", "/lifeboat/v1/hosts/zz/fence").status == 404)
        #expect(await api.call("GET", "/lifeboat/v1/hosts/c2/fence").status == 405)
        #expect(await api.call("GET", "/v2/segments").status == 404)
        #expect(await api.call("PATCH", "/v1/segments").status == 405)
    }
}
