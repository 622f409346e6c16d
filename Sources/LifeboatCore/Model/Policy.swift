/// Cluster-wide recovery policy. Every bound here keeps an automatic loop from running
/// forever: past a bound, the leader stops and asks for operator attention.
public struct Policy: Hashable, Sendable {
    /// Restarts of a failed process (nova-compute) in place before the host is fenced.
    public var processRestartLimit: Int = 3
    /// Restarts of a failed VM in place before the operator is notified.
    public var instanceRestartLimit: Int = 3
    /// Seconds without a failure after which a process's or an instance's failure count
    /// starts again from zero (Pacemaker's `failure-timeout`); 0: counts never expire.
    public var failureTimeout: Double = 0
    /// Host recoveries (fence → evacuate) in flight at once; the rest wait in order.
    public var maxConcurrentHostRecoveries: Int = 2
    /// Fence attempts for one failure before the leader gives up and notifies.
    public var fenceAttemptLimit: Int = 2
    /// After the attempts are used up (the operator was told), the fence is tried again
    /// every this many seconds, so that a host is fenced once its BMC answers again
    /// (0: never; an operator confirmation is then the only way on).
    public var fenceRetryInterval: Double = 60
    /// A host fenced this many times within `flapWindow` seconds is not fenced again
    /// automatically: it keeps coming back, so an operator has to look.
    public var flapLimit: Int = 3
    public var flapWindow: Double = 3600
    /// Storm guard: more than this share of a segment's hosts lost within
    /// `stormWindow` seconds (and at least two) halts automatic recovery there.
    public var stormThreshold: Double = 0.5
    public var stormWindow: Double = 60
    /// What a fenced host that comes back healthy becomes.
    public var readmitReserve: ReadmitReserve = .keep

    /// Startup fencing (Pacemaker's `startup-fencing`): after a cold start of the whole
    /// cluster, a configured host that has not joined within `startupGrace` seconds of the
    /// partition becoming quorate is treated as lost and fenced. Off: such a host simply
    /// stays unseen (its instances are not recovered until an operator acts).
    public var startupFencing: Bool = true
    public var startupGrace: Double = 60

    /// Evacuations of one instance for one failure: a failed one is retried on another
    /// target of the segment until this many failed, then the operator is told.
    public var evacuationAttemptLimit: Int = 2
    /// An HA instance given up on (its evacuations failed that many times, or no host had
    /// room) while its host stays down is placed again every this many seconds, on every
    /// target of the segment, as an operator would try again: a refusal by Nova's scheduler
    /// is often brief (a host re-enabled a moment ago). The operator is told once
    /// (0: never; the instance then waits for an operator).
    public var evacuationRetryInterval: Double = 60
    /// A Nova step that failed (Nova down, an error) is tried again after this many seconds:
    /// force-down and disable keep the recovery waiting rather than giving up.
    public var novaRetryInterval: Double = 15
    /// Drains (maintenance with `--drain`): live migrations at once, cluster-wide; whether
    /// reserved hosts may receive them; tries per instance before it is left where it is.
    public var maxParallelMigrations: Int = 4
    public var drainToReserved: Bool = false
    public var migrationAttemptLimit: Int = 2
    /// Every instance counts as HA-tagged, whatever its metadata says.
    public var evacuateAll: Bool = false

    /// Pacemaker's `priority-fencing-delay`: fencing a host that runs more HA instances than
    /// the fencing node waits this many seconds more, so that in a two-node split the node
    /// with more to lose wins the race (0: off).
    public var priorityFencingDelay: Double = 0

    /// Cluster time comes from the leader. An event another node stamps more than this many
    /// seconds after the cluster's time is applied at that bound, so a node whose clock runs
    /// ahead cannot drag the storm and flap windows along.
    public var clockSkewLimit: Double = 15

    /// Retention of what the replicated state keeps: told notices, finished action records
    /// (with their reports) and the event history. Older entries beyond the count, or older
    /// than `retentionAge` seconds (0: no age bound), are pruned; pruned entries are counted
    /// and logged, never dropped silently.
    public var noticeRetention: Int = 1000
    public var actionLogRetention: Int = 5000
    public var historyRetention: Int = 10000
    public var retentionAge: Double = 90 * 86400
    /// Retention of the durable history every node keeps on disk (`LifeboatHistory`): its
    /// records and incidents older than `archiveRetentionAge` seconds, or beyond
    /// `archiveRetention` records, are pruned, counted, and said so in `lifeboat history`.
    public var archiveRetention: Int = 5_000_000
    public var archiveRetentionAge: Double = 400 * 86400
    /// Notifications kept (Masakari's API lists them); pruned like the rest, counted.
    public var notificationRetention: Int = 10000
    /// A notification of the same type, host and payload generated within this many
    /// seconds after an earlier one is a duplicate (409), as Masakari's
    /// `duplicate_notification_detection_interval` (default 180).
    public var duplicateNotificationInterval: Double = 180

    public init() {}
}

/// The reserve status of a host re-admitted after it was fenced.
public enum ReadmitReserve: String, Sendable, CaseIterable {
    /// Keep the reserved flag it has (a reserve that was used stays non-reserved).
    case keep
    /// Return to the reserve: its instances moved away, so it is an empty spare.
    case reserve
    /// Come back as an ordinary host.
    case unreserve
}
