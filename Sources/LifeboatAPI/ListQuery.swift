import LifeboatCore

/// A list request's filters, sort and page (`limit`, `marker` = the integer `id` of the
/// last item seen), applied to what the client reads: the rendered objects, or records
/// through a function that gives the values the client would read.
struct ListQuery {
    /// Masakari's `osapi_max_limit`.
    static let maxLimit = 1000

    enum Filter {
        case equals(String, JSONValue)
        case atLeast(String, String)
    }

    var filters: [Filter] = []
    var sorts: [(key: String, ascending: Bool)] = []
    var limit = ListQuery.maxLimit
    var marker: Int? = nil

    /// `filterKeys`: name → kind ("string", "bool"); `sortKeys`: the keys a client may sort by.
    init(_ r: APIRequest, filterKeys: [String: String], sortKeys: Set<String>) throws(APIFault) {
        if let l = r.values("limit").last {
            guard let n = Int(l), n >= 0 else { throw .badRequest("limit must be a whole number of 0 or more, found '\(l)'") }
            limit = min(n, Self.maxLimit)
        }
        if let m = r.values("marker").last {
            guard let n = Int(m) else { throw .badRequest("marker must be the integer id of an item, found '\(m)'") }
            marker = n
        }
        let keys = r.values("sort_key")
        let dirs = r.values("sort_dir")
        guard dirs.count <= max(keys.count, 1) else { throw .badRequest("more sort_dir than sort_key values") }
        for d in dirs where d != "asc" && d != "desc" { throw .badRequest("sort_dir must be asc or desc, found '\(d)'") }
        for (n, k) in keys.enumerated() {
            guard sortKeys.contains(k) else {
                throw .badRequest("Invalid sort_key '\(k)' (one of: \(sortKeys.sorted().joined(separator: ", ")))")
            }
            let d = n < dirs.count ? dirs[n] : (dirs.last ?? "desc")
            sorts.append((k, d == "asc"))
        }
        if sorts.isEmpty { sorts = [("created_at", dirs.first == "asc")] }
        for (key, kind) in filterKeys.sorted(by: { $0.key < $1.key }) {
            guard let v = r.values(key).last else { continue }
            switch kind {
            case "bool":
                guard let b = BodyReader.parseBool(v) else { throw .badRequest("Invalid value '\(v)' for filter \(key): expected a boolean") }
                filters.append(.equals(key, .bool(b)))
            case "since":
                guard let (_, wire) = GeneratedTime.parse(v) else { throw .badRequest("Invalid value '\(v)' for \(key): expected an ISO 8601 time") }
                filters.append(.atLeast(key, wire))
            default:
                filters.append(.equals(key, .string(v)))
            }
        }
    }

    /// Over rendered objects: a key reads the object's member of that name.
    func apply(_ items: [JSONValue]) throws(APIFault) -> [JSONValue] {
        try apply(items) { item, key in item[key] ?? .null }
    }

    /// The same over any records, with `value(item, key)` giving what the client would
    /// read under that key (or a value that orders and compares the same, such as a time
    /// as its microseconds): a long list is filtered, sorted and paged before anything is
    /// rendered, and only the page is.
    func apply<T>(_ items: [T], value: (T, String) -> JSONValue) throws(APIFault) -> [T] {
        let kept = items.filter { item in
            filters.allSatisfy { f in
                switch f {
                case .equals(let k, let v): value(item, k) == v
                case .atLeast(let k, let t):
                    if case .string(let s) = value(item, k) { s >= t } else { false }
                }
            }
        }
        let sorts = self.sorts + [("id", self.sorts.last?.ascending ?? false)]
        // Each item's sort values once, not once per comparison.
        let keys = kept.map { item in sorts.map { value(item, $0.key) } }
        var order = Array(kept.indices)
        order.sort { a, b in
            for (n, s) in sorts.enumerated() {
                let c = Self.compare(keys[a][n], keys[b][n])
                if c != 0 { return s.ascending ? c < 0 : c > 0 }
            }
            return false
        }
        var start = 0
        if let marker {
            guard let at = order.firstIndex(where: { value(kept[$0], "id") == .int(marker) }) else {
                throw .badRequest("Marker \(marker) could not be found")
            }
            start = at + 1
        }
        return order[start...].prefix(limit).map { kept[$0] }
    }

    /// Null sorts first, like SQL's NULLS FIRST for ascending order in Masakari's MySQL.
    static func compare(_ a: JSONValue, _ b: JSONValue) -> Int {
        switch (a, b) {
        case (.null, .null): return 0
        case (.null, _): return -1
        case (_, .null): return 1
        case (.string(let x), .string(let y)): return x < y ? -1 : x > y ? 1 : 0
        case (.bool(let x), .bool(let y)): return x == y ? 0 : (!x ? -1 : 1)
        default:
            if let x = a.doubleValue, let y = b.doubleValue { return x < y ? -1 : x > y ? 1 : 0 }
            return 0
        }
    }
}

extension JSONValue {
    var doubleValue: Double? {
        if case .number(let d) = self { return d }
        return nil
    }
}
