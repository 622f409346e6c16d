import LifeboatCore

/// The OpenAPI 3.0 document of the whole API (`GET /openapi.json`), built from the same
/// filter and sort lists the handlers use, so that it cannot drift from them. Tests run
/// schemathesis against it on the lab.
enum OpenAPIDocument {
    static let json: String = JSONWriter.write(document, timeKeys: [])

    typealias J = JSONValue

    static func obj(_ f: [(String, J)]) -> J { .object(f) }
    static func str(_ s: String) -> J { .string(s) }
    static func ref(_ name: String) -> J { obj([("$ref", str("#/components/schemas/\(name)"))]) }
    static func strings(_ a: [String]) -> J { .array(a.map(str)) }

    static let name = obj([("type", str("string")), ("minLength", .int(1)), ("maxLength", .int(255)), ("pattern", str("^\\S(.*\\S)?$"))])
    static let description = obj([("type", str("string")), ("nullable", .bool(true)), ("maxLength", .int(255))])
    static let typeField = obj([("type", str("string")), ("nullable", .bool(true)), ("maxLength", .int(255)), ("pattern", str("^[a-zA-Z0-9]*$"))])
    static let boolean = obj([("oneOf", .array([obj([("type", str("boolean"))]), obj([("type", str("string")), ("enum", strings(["true", "false", "True", "False", "1", "0", "on", "off", "yes", "no"]))])]))])

    static func object(_ props: [(String, J)], required: [String] = [], minProperties: Int? = nil) -> J {
        var f: [(String, J)] = [("type", str("object")), ("properties", obj(props)), ("additionalProperties", .bool(false))]
        if !required.isEmpty { f.append(("required", strings(required))) }
        if let minProperties { f.append(("minProperties", .int(minProperties))) }
        return obj(f)
    }

    static func wrapped(_ key: String, _ inner: J) -> J { object([(key, inner)], required: [key]) }

    static func body(_ schema: J) -> J {
        obj([("required", .bool(true)), ("content", obj([("application/json", obj([("schema", schema)]))]))])
    }

    static func response(_ text: String, _ schema: J? = nil) -> J {
        var f: [(String, J)] = [("description", str(text))]
        if let schema { f.append(("content", obj([("application/json", obj([("schema", schema)]))]))) }
        return obj(f)
    }

    static let fault = response("A fault: {\"<faultName>\": {\"code\", \"message\"}}", ref("Fault"))

    static func responses(_ ok: [(Int, J)], _ errors: [Int]) -> J {
        obj(ok.map { (String($0.0), $0.1) } + errors.map { (String($0), fault) })
    }

    static func query(_ n: String, _ schema: J, _ text: String) -> J {
        obj([("name", str(n)), ("in", str("query")), ("required", .bool(false)), ("schema", schema), ("description", str(text))])
    }

    static func path(_ n: String, _ text: String) -> J {
        obj([("name", str(n)), ("in", str("path")), ("required", .bool(true)), ("schema", obj([("type", str("string"))])), ("description", str(text))])
    }

    /// The history paths' filters.
    static let historyQuery: [J] = [
        query("host", obj([("type", str("string")), ("minLength", .int(1))]), "only what concerns this host"),
        query("instance", obj([("type", str("string")), ("minLength", .int(1))]), "only what concerns this instance"),
        query("segment", obj([("type", str("string")), ("minLength", .int(1))]), "only this segment"),
        query("kind", obj([("type", str("string"))]), "event, action or incident kinds, comma-separated"),
        query("since", obj([("type", str("string"))]), "30d, 12h, 2026-11-24, 2026-11-24T10:00:00Z, or seconds since 1970"),
        query("until", obj([("type", str("string"))]), "same forms as since"),
        query("limit", obj([("type", str("integer")), ("minimum", .int(0))]), "how many (the newest that match)"),
    ]

    static func listParameters(filters: [String: String], sorts: Set<String>) -> J {
        var p: [J] = [
            query("limit", obj([("type", str("integer")), ("minimum", .int(0))]), "page size (at most \(ListQuery.maxLimit))"),
            query("marker", obj([("type", str("integer"))]), "the integer id of the last item of the previous page"),
            query("sort_key", obj([("type", str("string")), ("enum", strings(sorts.sorted()))]), "sort key"),
            query("sort_dir", obj([("type", str("string")), ("enum", strings(["asc", "desc"]))]), "sort direction"),
        ]
        for (k, kind) in filters.sorted(by: { $0.key < $1.key }) {
            let schema: J =
                kind == "bool" ? obj([("type", str("boolean"))]) : kind == "since" ? obj([("type", str("string")), ("format", str("date-time"))]) : obj([("type", str("string"))])
            p.append(query(k, schema, "filter"))
        }
        return .array(p + [versionHeader])
    }

    static let versionHeader = obj([
        ("name", str("OpenStack-API-Version")), ("in", str("header")), ("required", .bool(false)),
        ("schema", obj([("type", str("string"))])),
        ("description", str("microversion, as 'instance-ha X.Y' or 'instance-ha latest' (none: 1.0; an entry for another service is ignored, as microversion_parse does)")),
    ])

    static let auth: [Int] = [401, 403]

    static var paths: J {
        let segmentCreate = object(
            [("name", name), ("recovery_method", obj([("type", str("string")), ("enum", strings(MasakariAPI.recoveryMethods))])), ("service_type", name),
             ("description", description), ("enabled", boolean)],
            required: ["name", "recovery_method", "service_type"])
        let segmentUpdate = object(
            [("name", name), ("recovery_method", obj([("type", str("string")), ("enum", strings(MasakariAPI.recoveryMethods))])), ("service_type", name),
             ("description", description), ("enabled", boolean)],
            minProperties: 1)
        let hostCreate = object(
            [("name", name), ("type", typeField), ("control_attributes", description), ("reserved", boolean), ("on_maintenance", boolean)],
            required: ["name", "type", "control_attributes"])
        let hostUpdate = object(
            [("name", name), ("type", typeField), ("control_attributes", description), ("reserved", boolean), ("on_maintenance", boolean)],
            minProperties: 1)
        let payload = obj([
            ("type", str("object")),
            ("additionalProperties", obj([("type", str("string")), ("maxLength", .int(255))])),
            ("description", str("COMPUTE_HOST: event (STARTED|STOPPED), host_status, cluster_status; PROCESS: event, process_name; VM: event, instance_uuid, vir_domain_event")),
        ])
        let notificationCreate = object(
            [("type", obj([("type", str("string")), ("enum", strings(NotificationType.allCases.map(\.rawValue)))])),
             ("hostname", obj([("type", str("string")), ("minLength", .int(1)), ("maxLength", .int(255)), ("pattern", str("^[a-zA-Z0-9-._]*$"))])),
             ("generated_time", obj([("type", str("string")), ("format", str("date-time"))])), ("payload", payload)],
            required: ["type", "hostname", "generated_time", "payload"])
        let seg = path("segment_id", "segment uuid")
        let host = path("host_id", "host uuid")
        let note = path("notification_id", "notification uuid")
        let vmove = path("vmove_id", "vmove uuid")
        func op(_ summary: String, _ params: [J], _ body: J?, _ ok: [(Int, J)], _ errors: [Int]) -> J {
            var f: [(String, J)] = [("summary", str(summary)), ("parameters", .array(params + [versionHeader])), ("responses", responses(ok, errors + auth))]
            if let body { f.append(("requestBody", self.body(body))) }
            return obj(f)
        }
        func list(_ summary: String, _ params: [J], filters: [String: String], sorts: Set<String>, _ ok: J, _ errors: [Int]) -> J {
            let listParams: [J] = { if case .array(let a) = listParameters(filters: filters, sorts: sorts) { a } else { [] } }()
            return obj([("summary", str(summary)), ("parameters", .array(params + listParams)), ("responses", responses([(200, response("the list", ok))], errors + auth))])
        }
        func wrap(_ key: String, _ s: String) -> J { object([(key, ref(s))], required: [key]) }
        func wrapList(_ key: String, _ s: String) -> J { object([(key, obj([("type", str("array")), ("items", ref(s))]))], required: [key]) }
        let native: [(String, J)] = [
            ("/lifeboat/v1/status", obj([("get", obj([("summary", str("cluster status: members, quorum, leader, hosts, recoveries")), ("responses", responses([(200, response("status", obj([("type", str("object"))])))], auth + [503]))]))])),
            ("/lifeboat/v1/history", obj([("get", obj([
                ("summary", str("the durable history: records (oldest first, the newest `limit` that match) with their incidents")),
                ("parameters", .array(historyQuery + [query("incident", obj([("type", str("integer")), ("minimum", .int(1))]), "only this incident's records")])),
                ("responses", responses([(200, response("history", obj([("type", str("object"))])))], auth + [400, 503])),
            ]))])),
            ("/lifeboat/v1/incidents", obj([("get", obj([
                ("summary", str("incidents that overlap the period, newest `limit`")), ("parameters", .array(historyQuery)),
                ("responses", responses([(200, response("incidents", obj([("type", str("object"))])))], auth + [400, 503])),
            ]))])),
            ("/lifeboat/v1/incidents/{incident_id}", obj([("get", obj([
                ("summary", str("one incident: its timeline of stages and its records")),
                ("parameters", .array([obj([("name", str("incident_id")), ("in", str("path")), ("required", .bool(true)), ("schema", obj([("type", str("string"))])), ("description", str("incident number"))])])),
                ("responses", responses([(200, response("the incident", obj([("type", str("object"))])))], auth + [400, 404, 503])),
            ]))])),
            ("/lifeboat/v1/report", obj([("get", obj([
                ("summary", str("the SLA report (default: the last 30 days)")),
                ("parameters", .array(historyQuery.filter { $0["name"] != str("limit") && $0["name"] != str("kind") } + [query("format", obj([("type", str("string")), ("enum", strings(["json", "html", "text"]))]), "json, html or text")])),
                ("responses", responses([(200, obj([("description", str("the report")), ("content", obj([
                    ("application/json", obj([("schema", obj([("type", str("object"))]))])),
                    ("text/html", obj([("schema", obj([("type", str("string"))]))])),
                    ("text/plain", obj([("schema", obj([("type", str("string"))]))])),
                ]))]))], auth + [400, 503])),
            ]))])),
            ("/metrics", obj([("get", obj([
                ("summary", str("Prometheus metrics of this node (no token needed)")), ("security", .array([])),
                ("responses", obj([("200", obj([("description", str("the text exposition")), ("content", obj([("text/plain", obj([("schema", obj([("type", str("string"))]))]))]))]))])),
            ]))])),
            ("/lifeboat/v1/hosts/{host_name}/fence", obj([("post", obj([
                ("summary", str("fence the host (it is recovered as a lost host)")), ("parameters", .array([path("host_name", "host name")])),
                ("responses", responses([(202, response("accepted", obj([("type", str("object"))])))], auth + [400, 404, 409, 503])),
            ]))])),
            ("/lifeboat/v1/hosts/{host_name}/confirm-off", obj([("post", obj([
                ("summary", str("confirm by hand that the host is powered off")), ("parameters", .array([path("host_name", "host name")])),
                ("responses", responses([(202, response("accepted", obj([("type", str("object"))])))], auth + [400, 404, 409, 503])),
            ]))])),
            ("/lifeboat/v1/hosts/{host_name}/maintenance", obj([("put", obj([
                ("summary", str("maintenance on or off")), ("parameters", .array([path("host_name", "host name")])),
                ("requestBody", body(wrapped("maintenance", object([("on", boolean)], required: ["on"])))),
                ("responses", responses([(202, response("accepted", obj([("type", str("object"))])))], auth + [400, 404, 409, 503])),
            ]))])),
        ]
        return obj([
            ("/", obj([("get", obj([("summary", str("API versions")), ("responses", obj([("200", response("versions", obj([("type", str("object"))])))]))]))])),
            ("/v1", obj([("get", obj([("summary", str("the v1 version document")), ("responses", obj([("200", response("version", obj([("type", str("object"))])))]))]))])),
            ("/v1/segments", obj([
                ("get", list("list segments", [], filters: MasakariAPI.segmentFilters, sorts: MasakariAPI.segmentSorts, wrapList("segments", "Segment"), [400, 406, 503])),
                ("post", op("create a segment", [], wrapped("segment", segmentCreate), [(201, response("created", wrap("segment", "Segment")))], [400, 406, 409, 503])),
            ])),
            ("/v1/segments/{segment_id}", obj([
                ("get", op("show a segment", [seg], nil, [(200, response("the segment", wrap("segment", "Segment")))], [400, 404, 406, 503])),
                ("put", op("update a segment", [seg], wrapped("segment", segmentUpdate), [(200, response("updated", wrap("segment", "Segment")))], [400, 404, 406, 409, 503])),
                ("delete", op("delete a segment (its hosts leave Lifeboat's protection)", [seg], nil, [(204, response("deleted"))], [400, 404, 406, 409, 503])),
            ])),
            ("/v1/segments/{segment_id}/hosts", obj([
                ("get", list("list the hosts of a segment", [seg], filters: MasakariAPI.hostFilters, sorts: MasakariAPI.hostSorts, wrapList("hosts", "Host"), [400, 404, 406, 503])),
                ("post", op("add a host of the cluster to a segment", [seg], wrapped("host", hostCreate), [(201, response("created", wrap("host", "Host")))], [400, 404, 406, 409, 503])),
            ])),
            ("/v1/segments/{segment_id}/hosts/{host_id}", obj([
                ("get", op("show a host", [seg, host], nil, [(200, response("the host", wrap("host", "Host")))], [400, 404, 406, 503])),
                ("put", op("update a host", [seg, host], wrapped("host", hostUpdate), [(200, response("updated", wrap("host", "Host")))], [400, 404, 406, 409, 503])),
                ("delete", op("remove a host from its segment", [seg, host], nil, [(204, response("deleted"))], [400, 404, 406, 409, 503])),
            ])),
            ("/v1/notifications", obj([
                ("get", list("list notifications", [], filters: MasakariAPI.notificationFilters, sorts: MasakariAPI.notificationSorts, wrapList("notifications", "Notification"), [400, 406, 503])),
                ("post", op("post a notification (an input like a monitor's; a host is fenced first)", [], wrapped("notification", notificationCreate), [(202, response("accepted", wrap("notification", "Notification")))], [400, 406, 409, 503])),
            ])),
            ("/v1/notifications/{notification_id}", obj([
                ("get", op("show a notification (1.1: with recovery_workflow_details)", [note], nil, [(200, response("the notification", wrap("notification", "Notification")))], [400, 404, 406, 503])),
            ])),
            ("/v1/notifications/{notification_id}/vmoves", obj([
                ("get", list("the instance moves of a host notification", [note], filters: MasakariAPI.vmoveFilters, sorts: MasakariAPI.vmoveSorts, wrapList("vmoves", "VMove"), [400, 404, 406, 503])),
            ])),
            ("/v1/notifications/{notification_id}/vmoves/{vmove_id}", obj([
                ("get", op("one instance move", [note, vmove], nil, [(200, response("the move", wrap("vmove", "VMove")))], [400, 404, 406, 503])),
            ])),
        ] + native)
    }

    static func record(_ props: [(String, J)]) -> J {
        obj([("type", str("object")), ("properties", obj(props)), ("required", strings(props.map(\.0)))])
    }

    static let nullableString = obj([("type", str("string")), ("nullable", .bool(true))])
    static let string = obj([("type", str("string"))])
    static let integer = obj([("type", str("integer"))])
    static let bool = obj([("type", str("boolean"))])

    static var schemas: J {
        let common: [(String, J)] = [("created_at", nullableString), ("updated_at", nullableString), ("deleted", bool), ("deleted_at", nullableString)]
        let segment = record(
            [("id", integer), ("uuid", string), ("name", string), ("description", nullableString), ("recovery_method", string),
             ("service_type", string), ("enabled", bool)] + common)
        let host = record(
            [("id", integer), ("uuid", string), ("name", string), ("type", string), ("control_attributes", string), ("reserved", bool),
             ("on_maintenance", bool), ("failover_segment_id", string), ("failover_segment", ref("Segment"))] + common)
        let notification = record(
            [("id", integer), ("notification_uuid", string), ("type", string), ("generated_time", string),
             ("payload", obj([("type", str("object"))])), ("status", obj([("type", str("string")), ("enum", strings(NotificationStatus.allCases.map(\.rawValue)))])),
             ("source_host_uuid", string), ("failover_segment_uuid", string), ("message", nullableString)] + common)
        let vmove = record(
            [("id", integer), ("uuid", string), ("notification_uuid", string), ("instance_uuid", string), ("instance_name", string),
             ("source_host", string), ("dest_host", nullableString), ("start_time", nullableString), ("end_time", nullableString),
             ("status", obj([("type", str("string")), ("enum", strings(["pending", "ongoing", "succeeded", "failed", "ignored"]))])),
             ("type", string), ("message", nullableString)])
        let fault = obj([
            ("type", str("object")), ("minProperties", .int(1)), ("maxProperties", .int(1)),
            ("additionalProperties", record([("code", integer), ("message", string)])),
        ])
        return obj([("Segment", segment), ("Host", host), ("Notification", notification), ("VMove", vmove), ("Fault", fault)])
    }

    static var document: J {
        obj([
            ("openapi", str("3.0.3")),
            ("info", obj([
                ("title", str("Lifeboat API")),
                ("version", str("1.3")),
                ("description", str("Masakari v1 (instance-ha, microversions 1.0-1.3) backed by Lifeboat's replicated state, and Lifeboat's own paths under /lifeboat/v1. Every call but the version documents needs X-Auth-Token with the admin role.")),
            ])),
            ("components", obj([
                ("schemas", schemas),
                ("securitySchemes", obj([("keystone", obj([("type", str("apiKey")), ("in", str("header")), ("name", str("X-Auth-Token"))]))])),
            ])),
            ("security", .array([obj([("keystone", .array([]))])])),
            ("paths", paths),
        ])
    }
}
