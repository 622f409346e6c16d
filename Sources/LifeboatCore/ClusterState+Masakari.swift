/// The Masakari-facing records: segments and hosts created, updated and removed through the
/// API, and notifications, whose status follows the recovery they set off. Called from
/// `apply` (ClusterState+Apply.swift) after validation; pure like the rest of the core.
extension ClusterState {
    // MARK: Identities

    /// Gives every segment and host without one a uuid (derived from its name), an integer
    /// id (the next of the shared sequence, in name order) and its times.
    mutating func fillIdentities() {
        func fill(_ id: inout RecordIdentity, _ kind: String, _ name: String) {
            if id.uuid.isEmpty { id.uuid = RecordIdentity.derivedUUID(kind, name) }
            if id.serial == 0 {
                id.serial = nextSerial
                nextSerial += 1
            }
            nextSerial = max(nextSerial, id.serial + 1)
            if id.createdAt == 0 { id.createdAt = now }
            if id.updatedAt == 0 { id.updatedAt = id.createdAt }
        }
        for name in segments.keys.sorted() { fill(&segments[name]!.identity, "segment", name) }
        for name in hosts.keys.sorted() { fill(&hosts[name]!.identity, "host", name) }
        for name in detachedHosts.keys.sorted() { fill(&detachedHosts[name]!.identity, "host", name) }
        if let last = notifications.last { nextSerial = max(nextSerial, last.identity.serial + 1) }
    }

    mutating func takeSerial() -> Int {
        defer { nextSerial += 1 }
        return nextSerial
    }

    public func segment(uuid: String) -> Segment? { segments.values.first { $0.identity.uuid == uuid } }
    public func host(uuid: String) -> Host? { hosts.values.first { $0.identity.uuid == uuid } }

    /// The notification with this uuid (newest first: recent ones are asked for most).
    public func notification(uuid: String) -> NotificationRecord? { notificationSerials[uuid].flatMap { notification(serial: $0) } }

    /// This state without the notification records and their indexes (what executors are
    /// given: see `SharedClusterState`). Dropping the references copies nothing.
    public var forExecutors: ClusterState {
        var s = self
        s.notifications = []
        s.notificationSerials = [:]
        s.openNotifications = []
        return s
    }

    /// The notification with this integer id (they are kept in id order).
    public func notification(serial: Int) -> NotificationRecord? { notificationIndex(serial: serial).map { notifications[$0] } }

    func notificationIndex(serial: Int) -> Int? {
        var lo = 0
        var hi = notifications.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            let s = notifications[mid].identity.serial
            if s == serial { return mid }
            if s < serial { lo = mid + 1 } else { hi = mid - 1 }
        }
        return nil
    }

    // MARK: Validation

    func validateMasakari(_ event: Event) throws(EventRejected) {
        switch event {
        case .segmentSaved(let seg):
            guard RecordIdentity.isUUID(seg.identity.uuid) else { throw EventRejected("segment uuid '\(seg.identity.uuid)' is not a uuid") }
            guard !seg.name.isEmpty else { throw EventRejected("a segment needs a name") }
            if let old = segment(uuid: seg.identity.uuid) {
                if old.name != seg.name {
                    if segments[seg.name] != nil { throw EventRejected("conflict: a segment named '\(seg.name)' already exists") }
                    if resources.contains(where: { $0.segment == old.name }) {
                        throw EventRejected("conflict: resources are configured for segment '\(old.name)': rename it with lifeboat config apply")
                    }
                    if (hostsBySegment[old.name] ?? []).contains(where: { recovering($0) }) {
                        throw EventRejected("conflict: a host of segment '\(old.name)' is being recovered: it cannot be renamed now")
                    }
                }
            } else {
                if segments[seg.name] != nil { throw EventRejected("conflict: a segment named '\(seg.name)' already exists") }
                if hosts.values.contains(where: { $0.identity.uuid == seg.identity.uuid }) {
                    throw EventRejected("conflict: uuid \(seg.identity.uuid) is taken")
                }
            }
        case .segmentRemoved(let uuid):
            guard let seg = segment(uuid: uuid) else { throw EventRejected("not found: no segment \(uuid)") }
            if resources.contains(where: { $0.segment == seg.name }) {
                throw EventRejected("conflict: resources are configured for segment '\(seg.name)': remove them with lifeboat config apply first")
            }
            for h in hostsBySegment[seg.name] ?? [] { try validateHostRemoval(h) }
        case .hostSaved(let reg):
            guard RecordIdentity.isUUID(reg.uuid) else { throw EventRejected("host uuid '\(reg.uuid)' is not a uuid") }
            guard segments[reg.segment] != nil else { throw EventRejected("not found: no segment '\(reg.segment)'") }
            if let old = host(uuid: reg.uuid) {
                guard old.name == reg.name else {
                    throw EventRejected("conflict: a host's name is its Corosync node and Nova compute name: it cannot be renamed")
                }
                guard old.segment == reg.segment else { throw EventRejected("not found: host \(reg.uuid) is not in segment '\(reg.segment)'") }
            } else {
                if hosts[reg.name] != nil {
                    throw EventRejected("conflict: host \(reg.name) is already in segment '\(hosts[reg.name]!.segment)'")
                }
                guard let d = detachedHosts[reg.name] else {
                    throw EventRejected(
                        "bad request: \(reg.name) is not a node of this Lifeboat cluster (a host needs its Corosync node id and fence device: add it with lifeboat config apply)")
                }
                if let other = hosts.values.first(where: { $0.nodeID == d.nodeID }) {
                    throw EventRejected("conflict: node id \(d.nodeID) of \(reg.name) is used by \(other.name)")
                }
                if segments.values.contains(where: { $0.identity.uuid == reg.uuid }) || hosts.values.contains(where: { $0.identity.uuid == reg.uuid }) {
                    throw EventRejected("conflict: uuid \(reg.uuid) is taken")
                }
            }
        case .hostRemoved(let uuid):
            guard let h = host(uuid: uuid) else { throw EventRejected("not found: no host \(uuid)") }
            if resources.contains(where: { $0.hosts.contains(h.name) }) {
                throw EventRejected("conflict: resources are configured on \(h.name): remove them with lifeboat config apply first")
            }
            try validateHostRemoval(h.name)
        case .notificationReceived(let n):
            guard RecordIdentity.isUUID(n.identity.uuid) else { throw EventRejected("notification uuid '\(n.identity.uuid)' is not a uuid") }
            guard let h = hosts[n.hostname] else {
                throw EventRejected("bad request: host \(n.hostname) is not in any segment")
            }
            if h.maintenance { throw EventRejected("conflict: host \(n.hostname) is on maintenance") }
            if let d = duplicate(of: n) {
                throw EventRejected(
                    "conflict: notification \(d.identity.uuid) of the same type, host and payload was generated at \(d.generatedTime), within \(Int(policy.duplicateNotificationInterval)) s")
            }
            if notification(uuid: n.identity.uuid) != nil { throw EventRejected("conflict: notification \(n.identity.uuid) exists") }
        default:
            break
        }
    }

    func validateHostRemoval(_ h: String) throws(EventRejected) {
        if recovering(h) { throw EventRejected("conflict: host \(h) is being recovered: it cannot be removed now") }
        for a in inFlight.values.map(\.action) {
            let names = [a.host, a.target].compactMap { $0 }
            if names.contains(h) { throw EventRejected("conflict: \(a.key) is in flight on host \(h): it cannot be removed now") }
        }
        for id in instancesByHost[h] ?? [] where instances[id]!.state == .evacuating {
            throw EventRejected("conflict: instance \(id) is being evacuated: \(h) cannot be removed now")
        }
    }

    /// The newest earlier notification that `n` repeats (same type, host and payload, in
    /// any order, within `policy.duplicateNotificationInterval`). Scans back from the newest
    /// and stops at the first one older than the window; compares in place, without copying
    /// records (this runs on every node for every notification).
    func duplicate(of n: NotificationRecord) -> NotificationRecord? {
        let window = policy.duplicateNotificationInterval
        var i = notifications.count - 1
        while i >= 0 {
            defer { i -= 1 }
            let gap = n.generatedAt - notifications[i].generatedAt
            if gap > window { break }
            guard gap >= -window, notifications[i].samePayload(as: n), notifications[i].type == n.type,
                notifications[i].hostname == n.hostname
            else { continue }
            return notifications[i]
        }
        return nil
    }

    // MARK: Mutation

    mutating func applyMasakari(_ event: Event) {
        switch event {
        case .segmentSaved(let seg):
            if let old = segment(uuid: seg.identity.uuid) {
                var s = segments.removeValue(forKey: old.name)!
                s.name = seg.name
                s.recoveryMethod = seg.recoveryMethod
                s.enabled = seg.enabled
                s.description = seg.description
                s.serviceType = seg.serviceType
                s.identity.updatedAt = now
                segments[seg.name] = s
                if old.name != seg.name {
                    for h in hostsBySegment[old.name] ?? [] { hosts[h]!.segment = seg.name }
                    for h in detachedHosts.keys where detachedHosts[h]!.segment == old.name { detachedHosts[h]!.segment = seg.name }
                    rebuildHostIndexes()
                }
            } else {
                var s = Segment(name: seg.name, recoveryMethod: seg.recoveryMethod, enabled: seg.enabled)
                s.description = seg.description
                s.serviceType = seg.serviceType
                s.identity = RecordIdentity(uuid: seg.identity.uuid, serial: takeSerial(), createdAt: now, updatedAt: now)
                segments[seg.name] = s
            }
        case .segmentRemoved(let uuid):
            let seg = segment(uuid: uuid)!
            for h in hostsBySegment[seg.name] ?? [] { detach(h) }
            segments[seg.name] = nil
            rebuildHostIndexes()
        case .hostSaved(let reg):
            if hosts[reg.name] == nil {
                var h = detachedHosts.removeValue(forKey: reg.name)!
                h.segment = reg.segment
                h.identity = RecordIdentity(uuid: reg.uuid, serial: takeSerial(), createdAt: now, updatedAt: now)
                h.member = false  // the leader reports it from Corosync's member list
                h.unseen = false
                h.recovery = nil
                h.processes = [:]
                h.used = .zero
                hosts[reg.name] = h
                rebuildHostIndexes()
            }
            hosts[reg.name]!.type = reg.type
            hosts[reg.name]!.controlAttributes = reg.controlAttributes
            hosts[reg.name]!.reserved = reg.reserved
            hosts[reg.name]!.identity.updatedAt = now
            if hosts[reg.name]!.maintenance != reg.maintenance { setMaintenance(reg.name, reg.maintenance) }
        case .hostRemoved(let uuid):
            detach(host(uuid: uuid)!.name)
            rebuildHostIndexes()
        case .notificationReceived(let n):
            received(n)
        default:
            break
        }
    }

    /// The host leaves its segment and the protected configuration; its instances are no
    /// longer tracked (the inventory adds them again if it joins a segment).
    mutating func detach(_ name: String) {
        var h = hosts.removeValue(forKey: name)!
        for id in instancesByHost.removeValue(forKey: name) ?? [] {
            instances[id] = nil
            failedInstances.remove(id)
        }
        h.recovery = nil
        h.processes = [:]
        h.used = .zero
        detachedHosts[name] = h
    }

    mutating func received(_ incoming: NotificationRecord) {
        var n = incoming
        let h = hosts[n.hostname]!
        n.identity = RecordIdentity(uuid: n.identity.uuid, serial: takeSerial(), createdAt: now, updatedAt: now)
        n.sourceHostUUID = h.identity.uuid
        n.segmentUUID = segments[h.segment]!.identity.uuid
        n.since = now
        n.status = .new
        let event = n.payloadValue("event")?.uppercased()
        switch n.type {
        case .computeHost:
            if event == "STOPPED" {
                let hostStatus = n.payloadValue("host_status")?.uppercased()
                if recovering(n.hostname) {
                    n.message = "a recovery of \(n.hostname) (\(h.recovery!.cause.rawValue)) is already running: this notification follows it"
                    n.since = h.recovery!.detectedAt
                } else if h.fence.isOff {
                    n.status = .ignored
                    n.message = "\(n.hostname) is already fenced off"
                } else if hostStatus != "NORMAL" && h.member && !h.unseen {
                    // The monitor could not tell the host is down (Masakari ignores every such
                    // notification: it cannot fence). Lifeboat's own membership can: a host
                    // that is a live member is not fenced on a doubtful word; one that is
                    // not is recovered, fence first, as always.
                    n.status = .ignored
                    n.message =
                        "host_status is \(hostStatus ?? "not given"): the monitor could not tell that \(n.hostname) is down, and it is a live member of the cluster (Lifeboat recovers it itself if it leaves)"
                } else {
                    recordLossForStormGuard(n.hostname)
                    startRecovery(n.hostname, cause: .notification)
                    n.message = "fencing \(n.hostname) first, then forcing it down and evacuating its HA instances"
                }
                if n.status == .new {
                    n.recovery = hosts[n.hostname]!.failureCount
                    n.status = .running
                }
            } else {
                n.status = .ignored
                n.message = "a host that started needs no recovery (a fenced host is re-admitted when it rejoins the cluster)"
            }
        case .process:
            let p = n.payloadValue("process_name") ?? ""
            if event != "STOPPED" {
                n.status = .ignored
                n.message = "only a stopped process is recovered"
            } else if resource(p, on: n.hostname) == nil && p != "nova-compute" {
                n.status = .ignored
                n.message = "\(p) is not a resource Lifeboat runs on \(n.hostname)"
            } else if !h.member || recovering(n.hostname) || h.fence.isOff {
                n.status = .ignored
                n.message = "\(n.hostname) is not a healthy member: its recovery as a host covers \(p)"
            } else {
                processFailed(n.hostname, p)
                n.recovery = hosts[n.hostname]!.failureCount
                n.status = .running
                n.message = "restarting \(p) on \(n.hostname)"
            }
        case .vm:
            let id = (n.payloadValue("instance_uuid") ?? "").lowercased()
            let what = n.payloadValue("vir_domain_event")?.uppercased() ?? ""
            let failure = event == "IO_ERROR" || (event == "LIFECYCLE" && (what.hasPrefix("STOPPED") || what == "CRASHED" || what.hasSuffix("_FAILED")))
            if !failure {
                n.status = .ignored
                n.message = "\(n.payloadValue("event") ?? "") \(what) is not a failure"
            } else if let inst = instances[id] ?? instances.values.first(where: { $0.id.lowercased() == id }) {
                if !inst.ha && !policy.evacuateAll {
                    n.status = .ignored
                    n.message = "instance \(inst.id) is not HA-tagged"
                } else if inst.state != .active {
                    n.status = .ignored
                    n.message = "instance \(inst.id) is \(inst.state.rawValue): its recovery is already under way or stopped"
                } else {
                    instanceFailed(inst.id)
                    n.recovery = instances[inst.id]!.failures
                    n.status = instances[inst.id]!.state == .failed || instances[inst.id]!.state == .error ? .running : .ignored
                    n.message = n.status == .running ? "restarting instance \(inst.id)" : "\(inst.host) is not a healthy member: its recovery as a host covers \(inst.id)"
                }
            } else {
                n.status = .ignored
                n.message = "instance \(id) is not known on any host of a segment"
            }
        }
        notifications.append(n)
        notificationSerials[n.identity.uuid] = n.identity.serial
        if n.status.isOpen { openNotifications.append(n.identity.serial) }
    }

    /// Brings each open notification's status in step with the recovery it follows.
    mutating func updateNotifications() {
        guard !openNotifications.isEmpty else { return }
        var stillOpen: [Int] = []
        for serial in openNotifications {
            guard let i = notificationIndex(serial: serial) else { continue }
            let n = notifications[i]
            let (status, message) = followedStatus(n)
            if status != n.status || message != n.message {
                notifications[i].status = status
                notifications[i].message = message
                notifications[i].identity.updatedAt = now
            }
            if status.isOpen { stillOpen.append(serial) }
        }
        openNotifications = stillOpen
    }

    func followedStatus(_ n: NotificationRecord) -> (NotificationStatus, String?) {
        guard let h = hosts[n.hostname] else { return (.failed, "\(n.hostname) was removed from its segment") }
        let failure = n.recovery ?? 0
        switch n.type {
        case .computeHost:
            return hostRecoveryStatus(h, failure: failure, n)
        case .process:
            if h.failureCount > failure { return hostRecoveryStatus(h, failure: h.failureCount, n, escalated: true) }
            let p = n.payloadValue("process_name") ?? ""
            guard let health = h.processes[p] else { return (.finished, "\(p) runs again") }
            if let why = health.blocked { return (.failed, "\(p) is blocked: \(why)") }
            return health.failed ? (.running, n.message) : (.finished, "\(p) runs again")
        case .vm:
            let id = (n.payloadValue("instance_uuid") ?? "").lowercased()
            guard let inst = instances[id] ?? instances.values.first(where: { $0.id.lowercased() == id }) else {
                return (.failed, "instance \(id) is no longer tracked")
            }
            switch inst.state {
            case .active, .migrating: return (.finished, "instance \(inst.id) runs again")
            case .error: return (.failed, "instance \(inst.id) failed more than \(policy.instanceRestartLimit) times: left in error")
            case .stopped: return (.failed, "instance \(inst.id) is stopped with its host")
            case .failed, .evacuating: return (.running, n.message)
            }
        }
    }

    func hostRecoveryStatus(_ h: Host, failure: Int, _ n: NotificationRecord, escalated: Bool = false) -> (NotificationStatus, String?) {
        let prefix = escalated ? "escalated to a recovery of \(h.name): " : ""
        guard h.failureCount == failure else { return (.finished, "\(prefix)a later failure of \(h.name) superseded this one") }
        guard let r = h.recovery else { return (.finished, "\(prefix)\(h.name) came back before it was fenced: nothing to recover") }
        if r.finished {
            let left = instances(on: h.name).filter { $0.ha && ($0.state == .active || $0.state == .failed || $0.state == .error) }
            if !left.isEmpty && !h.member { return (.failed, "\(prefix)not moved: \(left.map(\.id).joined(separator: ", "))") }
            return (.finished, "\(prefix)\(h.name) fenced, forced down and its HA instances evacuated")
        }
        if h.fence == .failed { return (.error, "\(prefix)fencing \(h.name) failed: confirm it is off (lifeboat fence --confirm) to go on") }
        if !h.fence.isOff { return (.running, "\(prefix)fencing \(h.name)") }
        if r.forceDown != .done { return (.running, "\(prefix)\(h.name) is off; forcing it down in Nova") }
        return (.running, "\(prefix)evacuating the HA instances of \(h.name)")
    }

    mutating func pruneNotifications() {
        let cut = retentionCut(notifications.count, policy.notificationRetention) { notifications[$0].identity.createdAt }
        guard cut > 0 else { return }
        var gone: Set<Int> = []
        for n in notifications.prefix(cut) {
            gone.insert(n.identity.serial)
            notificationSerials[n.identity.uuid] = nil
        }
        notifications.removeFirst(cut)
        openNotifications.removeAll { gone.contains($0) }
        prunedNotifications += cut
    }
}

extension RecordIdentity {
    /// Takes the old record's value of every field this one leaves unset.
    mutating func keepUnset(of old: RecordIdentity) {
        if uuid.isEmpty { uuid = old.uuid }
        if serial == 0 { serial = old.serial }
        if createdAt == 0 { createdAt = old.createdAt }
        if updatedAt == 0 { updatedAt = old.updatedAt }
    }
}

extension Host {
    /// Keeps the Masakari fields of the host it replaces where the new one leaves them out.
    mutating func keepMasakariFields(of old: Host) {
        identity.keepUnset(of: old.identity)
        if type.isEmpty { type = old.type }
        if controlAttributes == nil { controlAttributes = old.controlAttributes }
    }
}

extension Segment {
    mutating func keepMasakariFields(of old: Segment) {
        identity.keepUnset(of: old.identity)
        if description == nil { description = old.description }
        if serviceType.isEmpty { serviceType = old.serviceType }
    }
}
