import Foundation
import LifeboatCore
import LifeboatReplication
import Testing

@testable import LifeboatHistory

/// The report's numbers from a scripted sequence of incidents with known downtime.
@Suite struct SLAReportTests {
    /// h1 crashes at 1010 (vm1, vm2 running again elsewhere at 1011.5: 1.5 s down each);
    /// vm3 fails at 2000 and runs again at 2000.5; h4's nova-compute fails at 3000 and is
    /// restarted; h3 crashes at 4000, its fence fails and an operator confirms it off at
    /// 4100 (vm3 running again at 4100.5: 100.5 s down).
    static func history() throws -> HistoryDatabase {
        var d = HistoryDriver()
        d.apply(.quorum(quorate: true), at: 1000)
        d.crashAndReturn(at: 1010)
        d.apply(.instanceFailed(instance: "vm3"), at: 2000)
        d.lead(at: 2000)
        d.apply(.processFailed(host: "h4", process: "nova-compute"), at: 3000)
        d.lead(at: 3000)
        d.apply(.nodeLost(host: "h3"), at: 4000)
        // The fence fails as often as the policy allows; the operator is told.
        for _ in 0..<d.state.policy.fenceAttemptLimit {
            d.apply(.actionStarted(.fence(host: "h3"), term: d.state.term), at: 4001)
            let a = d.state.inFlight["fence:h3"]!.attempt
            d.apply(.actionFinished(key: "fence:h3", attempt: a, report: ActionReport(.failed, message: "BMC unreachable")), at: 4002)
        }
        d.lead(at: 4003)  // only the notice
        d.apply(.fenceConfirmedByOperator(host: "h3"), at: 4100)
        d.lead(at: 4100)
        let (db, _) = try temporaryDatabase()
        try db.sync(window: d.entries, firstSeq: 0, context: .of(d.state), reconcile: false)
        return db
    }

    @Test func test_knownDowntime_givesExactAvailability_perInstanceAndOverall() throws {
        let db = try Self.history()
        let r = try db.report(since: 1000, until: 11000, segment: nil, protectedInstances: 3)
        let down = Dictionary(uniqueKeysWithValues: r.instances.map { ($0.instance, $0) })
        #expect(down["vm1"]?.downtime == 1.5)
        #expect(down["vm2"]?.downtime == 1.5)
        #expect(down["vm3"]?.downtime == 0.5 + 100.5)
        #expect(down["vm1"]?.availability == 1 - 1.5 / 10000)
        #expect(r.availability == 1 - (1.5 + 1.5 + 101) / 30000)
        #expect(r.instances.first?.instance == "vm3")  // most downtime first
        #expect(r.instances.allSatisfy { !$0.stillDown })
    }

    @Test func test_kindsMTTRHostsAndOperatorCases() throws {
        let r = try Self.history().report(since: 1000, until: 11000, segment: nil, protectedInstances: 3)
        let kinds = Dictionary(uniqueKeysWithValues: r.kinds.map { ($0.kind, $0) })
        #expect(kinds["host_lost"]?.count == 2)
        #expect(kinds["host_lost"]?.mttrP50 == 1.5)  // nearest rank of [1.5, 100.5]
        #expect(kinds["host_lost"]?.mttrP95 == 100.5)
        #expect(kinds["vm_failed"]?.count == 1 && kinds["vm_failed"]?.mttrP50 == 0.5)
        #expect(kinds["process_failed"]?.outcomes == ["recovered": 1])
        #expect(r.hosts.map(\.host) == ["h3", "h1", "h4"])  // h3: a VM failure and a crash
        #expect(r.hosts.first?.failures == 2)
        #expect(r.needingOperator.count == 1)
        #expect(r.needingOperator.first?.subject == "h3")
        #expect(r.needingOperator.first?.why.contains("confirmed that h3 is powered off") == true)
    }

    @Test func test_aPeriodThatCutsAnIncident_countsOnlyItsPart_andSegmentsFilter() throws {
        let db = try Self.history()
        let r = try db.report(since: 4050, until: 5000, segment: nil, protectedInstances: 3)
        #expect(r.instances.map(\.instance) == ["vm3"])
        #expect(r.instances.first?.downtime == 50.5)
        #expect(r.kinds.isEmpty)  // h3's crash was opened before the period
        let b = try db.report(since: 1000, until: 11000, segment: "a", protectedInstances: 2)
        #expect(Set(b.instances.map(\.instance)) == ["vm1", "vm2"])
    }

    @Test func test_renderings_sayTheSameNumbers() throws {
        let r = try Self.history().report(since: 1000, until: 11000, segment: nil, protectedInstances: 3)
        #expect(r.text.contains("99.653 %"))
        #expect(r.text.contains("vm3") && r.text.contains("1 min 41 s"))
        let html = r.html
        #expect(html.contains("<svg") && html.components(separatedBy: "<rect").count > 5)
        #expect(html.contains("99.653 %"))
        let json = try JSONParser.parse(JSONWriter.write(r.json, timeKeys: []))
        #expect(json["availability_percent"] == .number(99.653))
        #expect(json["protected_instances"] == .number(3))
    }
}
