import ArgumentParser
import LifeboatCore

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks of the decision core (print JSON numbers).", subcommands: [Plan.self, History.self, JSONParsers.self])

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time the planning of all evacuations after K hosts of a random cluster are lost and fenced.")

        @Option(help: "Hosts in the cluster.") var hosts = 1000
        @Option(help: "Instances in the cluster.") var instances = 50000
        @Option(help: "Hosts lost at once.") var failed = 1
        @Option(help: "Hosts per failover segment.") var segmentSize = 100
        @Option(help: "Timed planning runs.") var runs = 200
        @Option(help: "Random seed.") var seed: UInt64 = 1

        func validate() throws {
            guard hosts > 0, instances >= 0, runs > 0 else { throw ValidationError("hosts and runs must be positive") }
            guard failed >= 0, failed < hosts else { throw ValidationError("--failed must be between 0 and hosts-1") }
        }

        func run() throws {
            let generator = ClusterGenerator(hosts: hosts, instances: instances, hostsPerSegment: segmentSize)
            var state = generator.makeScenario(seed: seed).initialState
            var rng = SplitMix64(seed: seed &+ 7)
            // Lose K ordinary hosts and record their fencing and force-down, so that the next
            // plan is the one that places every evacuation.
            let candidates = state.hostOrder.filter { !state.hosts[$0]!.reserved }.shuffled(using: &rng)
            let lost = Array(candidates.prefix(failed))
            for h in lost { try state.apply(.nodeLost(host: h), at: 0) }
            for h in lost {
                try state.start(.fence(host: h), at: 0)
                try state.finish("fence:\(h)", .off, at: 0)
                try state.start(.forceDown(host: h), at: 0)
                try state.finish("force_down:\(h)", .ok, at: 0)
            }
            let clock = ContinuousClock()
            var samples: [Double] = []
            var evacuations = 0
            var notices = 0
            for _ in 0..<runs {
                var actions: [Action] = []
                let d = clock.measure { actions = Scheduler.plan(state) }
                samples.append(Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1e3)
                evacuations = actions.count { if case .evacuate = $0 { true } else { false } }
                notices = actions.count { if case .notify = $0 { true } else { false } }
            }
            samples.sort()
            func pct(_ p: Double) -> Double { samples[min(samples.count - 1, Int(Double(samples.count) * p))] }
            func ms(_ v: Double) -> JSONValue { .number((v * 1000).rounded() / 1000) }
            let out: JSONValue = .object([
                ("benchmark", .string("plan")), ("hosts", .number(Double(hosts))),
                ("instances", .number(Double(state.instances.count))), ("failed", .number(Double(failed))),
                ("segment_size", .number(Double(segmentSize))), ("runs", .number(Double(runs))),
                ("evacuations", .number(Double(evacuations))), ("no_capacity_notices", .number(Double(notices))),
                ("p50_ms", ms(pct(0.5))), ("p99_ms", ms(pct(0.99))), ("min_ms", ms(samples.first!)),
                ("max_ms", ms(samples.last!)),
            ])
            print(JSONWriter.write(out))
        }
    }
}
