import Foundation
import LifeboatCore
import LifeboatSystem

/// `lifeboatd`'s own settings (`--config FILE`, JSON). Documented in Docs/LIFEBOATD.md;
/// an example ships as Cluster/examples/lifeboatd.conf.
public struct DaemonConfiguration: Sendable, Equatable {
    /// The CPG group every lifeboatd of the cluster joins.
    public var group = "lifeboat"
    /// Where the configuration part of the state is kept (`config.json`).
    public var stateDirectory = "/var/lib/lifeboat"
    /// The local control socket the `lifeboat` CLI talks to.
    public var controlSocket = "/run/lifeboat/lifeboatd.sock"
    /// A Unix group whose members may use the control socket too (mode 0660, that group);
    /// nil: root only (mode 0600).
    public var controlGroup: String? = nil
    /// When the local corosync goes away: `reconnect` (retry for `reconnectTimeout`
    /// seconds, then exit) or `exit` at once (let the service manager restart us).
    public var onCorosyncLoss = CorosyncLossPolicy.reconnect
    public var reconnectTimeout = 60.0
    /// A cluster configuration (the scenario `cluster` format) used when nothing was saved
    /// yet; later changes come from the CLI and are replicated.
    public var bootstrapCluster: String? = nil

    /// How long an executor may run one attempt before it is cancelled (seconds).
    public var actionTimeout = 600.0
    /// Where OCF resource agents live (`resource.d/PROVIDER/TYPE`), as `OCF_ROOT`.
    public var ocfRoot = "/usr/lib/ocf"
    /// The libvirt URI the VM monitor listens to (`"vm_monitor": {"uri": …}`); nil: no
    /// VM monitor on this host.
    public var vmMonitorURI: String? = nil

    /// `log_level`: trace, debug, info, notice, warning, error, critical. `log_format`:
    /// `text` or `journald` (nil: journald under systemd, which sets JOURNAL_STREAM).
    public var logLevel = "info"
    public var logFormat: String? = nil

    /// Test-only knobs (`"debug": {...}`), for the lab: they widen races on purpose.
    /// `quorum_delay`: libquorum notifications are handled this many seconds late (the
    /// window between a CPG change and the quorum report, made wide enough to hit).
    /// `clock_offset`: seconds added to this node's clock (a node whose clock is wrong).
    public var debugQuorumDelay = 0.0
    public var debugClockOffset = 0.0

    /// The OpenStack cloud (`"openstack": {...}`); nil: no Nova executors, no inventory.
    public var openstack: OpenStackSettings? = nil

    public struct OpenStackSettings: Sendable, Equatable {
        /// The cloud of clouds.yaml (nil: OS_CLOUD, else the OS_* variables).
        public var cloud: String? = nil
        /// A clouds.yaml to read instead of the standard search path.
        public var cloudsYAML: String? = nil
        /// Seconds between inventory refreshes on the leader.
        public var inventoryInterval = 30.0
        public var maxParallelEvacuations = 50
        /// Seconds one evacuation may take to reach ACTIVE on its target.
        public var evacuationTimeout = 300.0
        /// Seconds one live migration (a drain's move) may take.
        public var migrationTimeout = 600.0
        /// Seconds between Nova's reads while evacuations or migrations are followed (for
        /// evacuations, one read of each source host's migration records, then the servers
        /// whose record ended). Longer spares a busy nova-api, at the cost of seeing an end
        /// that much later.
        public var pollInterval = 0.5
    }

    /// The HTTP API (`"api": {...}`): Masakari v1 and Lifeboat's own paths; nil: off.
    public var api: APISettings? = nil

    public struct APISettings: Sendable, Equatable {
        public var listen = "0.0.0.0"
        public var port = 15868
        /// `keystone` (tokens validated with Keystone, admin role required) or `noauth`
        /// (every caller is an admin: only for a closed lab; logged loudly at start).
        public var auth = "keystone"
        /// The cloud of clouds.yaml whose credentials validate tokens (default: the
        /// `openstack` section's).
        public var cloud: String? = nil
        public var cloudsYAML: String? = nil
        /// TLS: a PEM certificate chain and its key (both or neither).
        public var tlsCertificate: String? = nil
        public var tlsKey: String? = nil
    }

    public enum CorosyncLossPolicy: String, Sendable { case reconnect, exit }

    public init() {}

    public static func parse(_ text: String) throws(ScenarioError) -> DaemonConfiguration {
        let json: JSONValue
        do { json = try JSONParser.parse(text) } catch { throw ScenarioError("", "invalid JSON at \(error)") }
        var c = DaemonConfiguration()
        var r = try ObjectReader(json, at: "")
        c.group = try r.string("group", default: c.group)
        guard c.group.utf8.count <= 128 else { throw ScenarioError("group", "at most 128 bytes") }
        c.stateDirectory = try r.string("state_dir", default: c.stateDirectory)
        c.controlSocket = try r.string("control_socket", default: c.controlSocket)
        guard c.controlSocket.utf8.count < 108 else { throw ScenarioError("control_socket", "path longer than a Unix socket allows (107 bytes)") }
        if let g = r.optional("control_group") {
            let name = try ObjectReader.string(g, at: "control_group")
            guard !name.isEmpty, name.utf8.count <= 32, getgrnam(name) != nil else {
                throw ScenarioError("control_group", "no group '\(name)' on this host")
            }
            c.controlGroup = name
        }
        let policy = try r.string("on_corosync_loss", default: c.onCorosyncLoss.rawValue)
        guard let p = CorosyncLossPolicy(rawValue: policy) else {
            throw ScenarioError("on_corosync_loss", "expected 'reconnect' or 'exit', found '\(policy)'")
        }
        c.onCorosyncLoss = p
        c.reconnectTimeout = try r.number("reconnect_timeout", default: c.reconnectTimeout)
        guard c.reconnectTimeout >= 0 else { throw ScenarioError("reconnect_timeout", "must not be negative") }
        if let b = r.optional("bootstrap_cluster") { c.bootstrapCluster = try ObjectReader.string(b, at: "bootstrap_cluster") }
        c.actionTimeout = try r.number("action_timeout", default: c.actionTimeout)
        guard c.actionTimeout > 0 else { throw ScenarioError("action_timeout", "must be above 0") }
        c.logLevel = try r.string("log_level", default: c.logLevel)
        guard Log.levelNames.contains(c.logLevel) else {
            throw ScenarioError("log_level", "unknown level '\(c.logLevel)' (one of: \(Log.levelNames.joined(separator: ", ")))")
        }
        c.logFormat = try r.optionalText("log_format")
        if let f = c.logFormat, !["text", "journald"].contains(f) {
            throw ScenarioError("log_format", "expected 'text' or 'journald', found '\(f)'")
        }
        c.ocfRoot = try r.string("ocf_root", default: c.ocfRoot)
        guard c.ocfRoot.hasPrefix("/") else { throw ScenarioError("ocf_root", "must be an absolute path") }
        if let v = r.optional("vm_monitor") {
            var vr = try ObjectReader(v, at: "vm_monitor")
            let uri = try vr.string("uri", default: "qemu:///system")
            guard uri.contains(":") else { throw ScenarioError("vm_monitor.uri", "'\(uri)' is not a libvirt URI (for example qemu:///system)") }
            try vr.finish()
            c.vmMonitorURI = uri
        }
        if let o = r.optional("openstack") {
            var or = try ObjectReader(o, at: "openstack")
            var s = OpenStackSettings()
            s.cloud = try or.optionalText("cloud")
            s.cloudsYAML = try or.optionalText("clouds_yaml")
            s.inventoryInterval = try or.number("inventory_interval", default: s.inventoryInterval)
            s.maxParallelEvacuations = try or.int("max_parallel_evacuations", default: s.maxParallelEvacuations)
            s.evacuationTimeout = try or.number("evacuation_timeout", default: s.evacuationTimeout)
            s.migrationTimeout = try or.number("migration_timeout", default: s.migrationTimeout)
            s.pollInterval = try or.number("poll_interval", default: s.pollInterval)
            guard (0.1...60).contains(s.pollInterval) else {
                throw ScenarioError("openstack.poll_interval", "must be from 0.1 to 60 seconds")
            }
            guard s.migrationTimeout > 0 else { throw ScenarioError("openstack.migration_timeout", "must be above 0") }
            guard s.inventoryInterval >= 1 else { throw ScenarioError("openstack.inventory_interval", "must be at least 1 second") }
            guard s.maxParallelEvacuations >= 1 else { throw ScenarioError("openstack.max_parallel_evacuations", "must be at least 1") }
            guard s.evacuationTimeout > 0 else { throw ScenarioError("openstack.evacuation_timeout", "must be above 0") }
            try or.finish()
            c.openstack = s
        }
        if let a = r.optional("api") {
            var ar = try ObjectReader(a, at: "api")
            var s = APISettings()
            s.listen = try ar.string("listen", default: s.listen)
            s.port = try ar.int("port", default: s.port)
            guard (0...65535).contains(s.port) else { throw ScenarioError("api.port", "must be a TCP port (0 to 65535)") }
            s.auth = try ar.string("auth", default: s.auth)
            guard ["keystone", "noauth"].contains(s.auth) else { throw ScenarioError("api.auth", "expected 'keystone' or 'noauth', found '\(s.auth)'") }
            s.cloud = try ar.optionalText("cloud") ?? c.openstack?.cloud
            s.cloudsYAML = try ar.optionalText("clouds_yaml") ?? c.openstack?.cloudsYAML
            s.tlsCertificate = try ar.optionalText("tls_certificate")
            s.tlsKey = try ar.optionalText("tls_key")
            guard (s.tlsCertificate == nil) == (s.tlsKey == nil) else {
                throw ScenarioError("api.tls_certificate", "TLS needs both tls_certificate and tls_key")
            }
            try ar.finish()
            c.api = s
        }
        if let d = r.optional("debug") {
            var dr = try ObjectReader(d, at: "debug")
            c.debugQuorumDelay = try dr.number("quorum_delay", default: 0)
            c.debugClockOffset = try dr.number("clock_offset", default: 0)
            guard c.debugQuorumDelay >= 0 else { throw ScenarioError("debug.quorum_delay", "must not be negative") }
            try dr.finish()
        }
        try r.finish()
        return c
    }
}
