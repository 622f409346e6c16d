import LifeboatCore

/// `/v1/segments` and `/v1/segments/{uuid}/hosts`: Lifeboat's failover segments and hosts,
/// changed through the replicated log as configuration events.
///
/// Every handler reads the state through `fromState` and keeps only the values it needs
/// (a segment, a host, a view) across a write: a state held while the daemon applies other
/// writes would make each of them copy what it changes.
extension MasakariAPI {
    static let segmentFilters = ["recovery_method": "string", "service_type": "string", "enabled": "bool"]
    static let segmentSorts: Set<String> = ["id", "uuid", "name", "description", "recovery_method", "service_type", "enabled", "created_at", "updated_at"]
    static let hostFilters = ["name": "string", "type": "string", "control_attributes": "string", "on_maintenance": "bool", "reserved": "bool"]
    static let hostSorts: Set<String> = ["id", "uuid", "name", "type", "control_attributes", "reserved", "on_maintenance", "failover_segment_id", "created_at", "updated_at"]
    static let recoveryMethods = RecoveryMethod.allCases.map(\.rawValue)

    func segments(_ r: APIRequest, _ rest: [String], _ v: Microversion) async throws(APIFault) -> APIResponse {
        switch rest.count {
        case 0:
            try allow(r, ["GET", "POST"])
            if r.method == "GET" {
                var filters = Self.segmentFilters
                if v < Microversion(1, 2) { filters["enabled"] = nil }
                let q = try ListQuery(r, filterKeys: filters, sortKeys: Self.segmentSorts)
                let items = try await fromState { s throws(APIFault) in s.segments.values.map(MasakariViews.segment) }
                return .json(200, .object([("segments", .array(try q.apply(items)))]))
            }
            return try await createSegment(r, v)
        case 1:
            try allow(r, ["GET", "PUT", "DELETE"])
            let seg = try await fromState { s throws(APIFault) in try Self.segment(rest[0], in: s) }
            switch r.method {
            case "GET": return .json(200, .object([("segment", MasakariViews.segment(seg))]))
            case "PUT": return try await updateSegment(r, seg, v)
            default:
                try await fromState { s throws(APIFault) in try self.refuseIfBusy(seg, in: s, "deleted") }
                try await write(.segmentRemoved(uuid: seg.identity.uuid))
                return APIResponse(status: 204)
            }
        default:
            guard rest[1] == "hosts" else { throw .notFound("Unknown resource \(r.path)") }
            return try await hosts(r, segmentUUID: rest[0].lowercased(), Array(rest.dropFirst(2)), v)
        }
    }

    func createSegment(_ r: APIRequest, _ v: Microversion) async throws(APIFault) -> APIResponse {
        let b = try BodyReader.wrapped(r.body, "segment")
        try b.only(["name", "description", "recovery_method", "service_type"] + (v >= Microversion(1, 2) ? ["enabled"] : []))
        let name = try b.name("name")
        let method = try b.oneOf("recovery_method", Self.recoveryMethods)
        let serviceType = try b.name("service_type")
        let description = b.has("description") ? try b.description("description") : nil
        let enabled = b.has("enabled") ? try b.boolean("enabled") : true
        try await fromState { s throws(APIFault) in
            if s.segments[name] != nil { throw .conflict("Failover segment with name \(name) already exists.") }
        }
        var seg = Segment(name: name, recoveryMethod: RecoveryMethod(rawValue: method)!, enabled: enabled)
        seg.identity.uuid = newUUID()
        seg.description = description
        seg.serviceType = serviceType
        try await write(.segmentSaved(seg))
        let saved = try await fromState { after throws(APIFault) in
            guard let saved = after.segment(uuid: seg.identity.uuid) else { throw APIFault(500, "segment \(seg.identity.uuid) was applied but is not in the state") }
            return saved
        }
        return .json(201, .object([("segment", MasakariViews.segment(saved))]))
    }

    func updateSegment(_ r: APIRequest, _ seg: Segment, _ v: Microversion) async throws(APIFault) -> APIResponse {
        let b = try BodyReader.wrapped(r.body, "segment")
        let allowed = ["name", "description", "recovery_method", "service_type"] + (v >= Microversion(1, 2) ? ["enabled"] : [])
        try b.only(allowed)
        guard b.members.contains(where: { allowed.contains($0.0) }) else {
            throw .badRequest("Invalid input for field/attribute segment. The update needs at least one of: \(allowed.joined(separator: ", "))")
        }
        var next = seg
        if b.has("name") { next.name = try b.name("name") }
        if b.has("recovery_method") { next.recoveryMethod = RecoveryMethod(rawValue: try b.oneOf("recovery_method", Self.recoveryMethods))! }
        if b.has("service_type") { next.serviceType = try b.name("service_type") }
        if b.has("description") { next.description = try b.description("description") }
        if b.has("enabled") { next.enabled = try b.boolean("enabled") }
        try await fromState { s throws(APIFault) in
            if next.name != seg.name, s.segments[next.name] != nil { throw .conflict("Failover segment with name \(next.name) already exists.") }
            try self.refuseIfBusy(seg, in: s, "updated")
        }
        try await write(.segmentSaved(next))
        let saved = try await fromState { after throws(APIFault) in
            guard let saved = after.segment(uuid: seg.identity.uuid) else { throw .notFound("Failover segment \(seg.identity.uuid) could not be found.") }
            return saved
        }
        return .json(200, .object([("segment", MasakariViews.segment(saved))]))
    }

    // MARK: Hosts

    func hosts(_ r: APIRequest, segmentUUID: String, _ rest: [String], _ v: Microversion) async throws(APIFault) -> APIResponse {
        switch rest.count {
        case 0:
            try allow(r, ["GET", "POST"])
            if r.method == "GET" {
                let q = try ListQuery(r, filterKeys: Self.hostFilters, sortKeys: Self.hostSorts)
                let items = try await fromState { s throws(APIFault) in
                    let seg = try Self.segment(segmentUUID, in: s)
                    return (s.hostsBySegment[seg.name] ?? []).map { MasakariViews.host(s.hosts[$0]!, in: s) }
                }
                return .json(200, .object([("hosts", .array(try q.apply(items)))]))
            }
            return try await createHost(r, try await fromState { s throws(APIFault) in try Self.segment(segmentUUID, in: s) })
        case 1:
            try allow(r, ["GET", "PUT", "DELETE"])
            if r.method == "GET" {
                let view = try await fromState { s throws(APIFault) in MasakariViews.host(try Self.host(rest[0], inSegment: segmentUUID, s), in: s) }
                return .json(200, .object([("host", view)]))
            }
            let h = try await fromState { s throws(APIFault) in try Self.host(rest[0], inSegment: segmentUUID, s) }
            switch r.method {
            case "PUT": return try await updateHost(r, h)
            default:
                try await fromState { s throws(APIFault) in try self.refuseIfBusy(h, in: s, "deleted") }
                try await write(.hostRemoved(uuid: h.identity.uuid))
                return APIResponse(status: 204)
            }
        default:
            throw .notFound("Unknown resource \(r.path)")
        }
    }

    func createHost(_ r: APIRequest, _ seg: Segment) async throws(APIFault) -> APIResponse {
        let b = try BodyReader.wrapped(r.body, "host")
        try b.only(["name", "type", "control_attributes", "reserved", "on_maintenance"])
        let name = try b.name("name")
        let type = try b.type("type")
        let control = try b.description("control_attributes")
        let reserved = b.has("reserved") ? try b.boolean("reserved") : false
        let maintenance = b.has("on_maintenance") ? try b.boolean("on_maintenance") : false
        try await fromState { s throws(APIFault) in
            if let other = s.hosts[name] {
                throw .conflict("Host with name \(name) already exists (in failover segment \(s.segments[other.segment]!.identity.uuid)).")
            }
            guard s.detachedHosts[name] != nil else {
                throw .badRequest(
                    "Host \(name) is not a node of this Lifeboat cluster: a protected host needs its Corosync node id and fence device (add it with lifeboat config apply)")
            }
        }
        switch await backend.computeExists(name) {
        case .success(false): throw .badRequest("Compute service for host \(name) could not be found.")
        case .failure(let f): throw f
        case .success(true), nil: break
        }
        let reg = HostRegistration(
            uuid: newUUID(), name: name, segment: seg.name, reserved: reserved, maintenance: maintenance, type: type ?? "",
            controlAttributes: control)
        try await write(.hostSaved(reg))
        let view = try await fromState { after throws(APIFault) in
            guard let h = after.host(uuid: reg.uuid) else { throw APIFault(500, "host \(reg.uuid) was applied but is not in the state") }
            return MasakariViews.host(h, in: after)
        }
        return .json(201, .object([("host", view)]))
    }

    func updateHost(_ r: APIRequest, _ h: Host) async throws(APIFault) -> APIResponse {
        let b = try BodyReader.wrapped(r.body, "host")
        let allowed = ["name", "type", "control_attributes", "reserved", "on_maintenance"]
        try b.only(allowed)
        guard !b.members.isEmpty else {
            throw .badRequest("Invalid input for field/attribute host. The update needs at least one of: \(allowed.joined(separator: ", "))")
        }
        var reg = HostRegistration(
            uuid: h.identity.uuid, name: h.name, segment: h.segment, reserved: h.reserved, maintenance: h.maintenance, type: h.type,
            controlAttributes: h.controlAttributes)
        if b.has("name") { reg.name = try b.name("name") }
        if b.has("type") { reg.type = try b.type("type") ?? "" }
        if b.has("control_attributes") { reg.controlAttributes = try b.description("control_attributes") }
        if b.has("reserved") { reg.reserved = try b.boolean("reserved") }
        if b.has("on_maintenance") { reg.maintenance = try b.boolean("on_maintenance") }
        // Maintenance is how an operator stops a recovery's alerts: always allowed; other
        // changes wait for the host's open notifications.
        let onlyMaintenance = b.members.allSatisfy { $0.0 == "on_maintenance" }
        try await fromState { s throws(APIFault) in
            if reg.name != h.name {
                if s.hosts[reg.name] != nil { throw .conflict("Host with name \(reg.name) already exists.") }
                throw .conflict("Host \(h.name) cannot be renamed: its name is its Corosync node and Nova compute service name")
            }
            if !onlyMaintenance { try self.refuseIfBusy(h, in: s, "updated") }
        }
        try await write(.hostSaved(reg))
        let view = try await fromState { after throws(APIFault) in
            guard let saved = after.host(uuid: h.identity.uuid) else { throw .notFound("Host \(h.identity.uuid) could not be found.") }
            return MasakariViews.host(saved, in: after)
        }
        return .json(200, .object([("host", view)]))
    }

    // MARK: Checks against one state

    static func segment(_ uuid: String, in s: ClusterState) throws(APIFault) -> Segment {
        guard let seg = s.segment(uuid: uuid.lowercased()) else { throw .notFound("Failover segment \(uuid) could not be found.") }
        return seg
    }

    static func host(_ uuid: String, inSegment segmentUUID: String, _ s: ClusterState) throws(APIFault) -> Host {
        let seg = try segment(segmentUUID, in: s)
        guard let h = s.host(uuid: uuid.lowercased()), h.segment == seg.name else {
            throw .notFound("Host \(uuid) could not be found in failover segment \(segmentUUID).")
        }
        return h
    }

    /// A segment with an open notification on one of its hosts is not changed under it.
    func refuseIfBusy(_ seg: Segment, in s: ClusterState, _ verb: String) throws(APIFault) {
        if let n = openNotifications(on: Set(s.hostsBySegment[seg.name] ?? []), s).first {
            throw .conflict("Failover segment \(seg.identity.uuid) has notification \(n.identity.uuid) in status '\(n.status.rawValue)': it cannot be \(verb) now")
        }
    }

    /// Nor is a host with an open notification.
    func refuseIfBusy(_ h: Host, in s: ClusterState, _ verb: String) throws(APIFault) {
        if let n = openNotifications(on: [h.name], s).first {
            throw .conflict("Host \(h.identity.uuid) has notification \(n.identity.uuid) in status '\(n.status.rawValue)': it cannot be \(verb) now")
        }
    }
}
