/// Which instances Lifeboat protects (restarts, evacuates).
///
/// In order, the first that applies decides:
/// 1. the instance's own tag as users set it in Nova: `HA_Enabled=False` opts it out,
///    `HA_Enabled=True` (or an `evacuable` flavor or image) opts it in;
/// 2. the matching HA rule of highest `priority` (ties: by name): by project, host
///    aggregate, availability zone, host or segment; a rule may protect or exclude;
/// 3. `policy.evacuate_all`;
/// 4. otherwise not protected.
public enum HATag: String, Hashable, Sendable, CaseIterable {
    /// No tag: rules and policy decide.
    case none
    /// Tagged HA (metadata `HA_Enabled=True`, an `evacuable` flavor or image).
    case on
    /// Opted out explicitly (metadata `HA_Enabled=False`): never protected.
    case off
}

/// A rule that makes instances HA (or not) by where they run and whose they are. Every
/// criterion given must match; at least one is given.
public struct HARule: Hashable, Sendable {
    public var name: String
    public var project: String? = nil
    public var aggregate: String? = nil
    public var availabilityZone: String? = nil
    public var host: String? = nil
    public var segment: String? = nil
    /// true: protect what matches; false: exclude it (a narrower rule of higher priority
    /// can carve an exception out of a broader one).
    public var protect: Bool = true
    /// Among matching rules, the highest priority decides.
    public var priority: Int = 0

    public init(name: String, protect: Bool = true, priority: Int = 0) {
        self.name = name
        self.protect = protect
        self.priority = priority
    }

    public var hasCriteria: Bool { [project, aggregate, availabilityZone, host, segment].contains { $0 != nil } }

    /// What it matches, for people: "project abc, aggregate ssd".
    public var criteria: String {
        [
            project.map { "project \($0)" }, aggregate.map { "aggregate \($0)" }, availabilityZone.map { "availability zone \($0)" },
            host.map { "host \($0)" }, segment.map { "segment \($0)" },
        ].compactMap { $0 }.joined(separator: ", ")
    }

    func matches(_ i: Instance, on h: Host) -> Bool {
        if let p = project, i.project != p { return false }
        if let a = aggregate, !h.aggregates.contains(a) { return false }
        if let z = availabilityZone, h.availabilityZone != z { return false }
        if let n = host, h.name != n { return false }
        if let s = segment, h.segment != s { return false }
        return true
    }
}

/// Whether an instance is protected, and why.
public struct Protection: Hashable, Sendable {
    public var protected: Bool
    /// `tag`, `opt_out`, `rule`, `evacuate_all` or `none`.
    public var source: String
    public var rule: String?
    /// One line for people.
    public var reason: String
}

extension ClusterState {
    /// Rules in the order they are tried.
    var orderedHARules: [HARule] { haRules.sorted { ($1.priority, $0.name) < ($0.priority, $1.name) } }

    public func protection(of i: Instance) -> Protection {
        switch i.tag {
        case .off: return Protection(protected: false, source: "opt_out", reason: "opted out by its own tag (HA_Enabled=False)")
        case .on:
            return Protection(protected: true, source: "tag", reason: "tagged HA (HA_Enabled=True, or an evacuable flavor or image)")
        case .none: break
        }
        if let h = hosts[i.host], let rule = orderedHARules.first(where: { $0.matches(i, on: h) }) {
            return Protection(
                protected: rule.protect, source: "rule", rule: rule.name,
                reason: "\(rule.protect ? "protected" : "excluded") by rule \(rule.name) (\(rule.criteria), priority \(rule.priority))")
        }
        if policy.evacuateAll { return Protection(protected: true, source: "evacuate_all", reason: "every instance is HA (policy evacuate_all)") }
        return Protection(protected: false, source: "none", reason: "no tag, and no HA rule matches it")
    }

    /// Brings each instance's effective `ha` in step with its tag, the rules and the policy.
    mutating func refreshProtection<S: Sequence>(_ ids: S) where S.Element == String {
        for id in ids {
            guard let i = instances[id] else { continue }
            let p = protection(of: i).protected
            if i.ha != p { instances[id]!.ha = p }
        }
    }

    mutating func refreshProtection() { refreshProtection(Array(instances.keys)) }
}
