import ArgumentParser
import Foundation
import LifeboatCore

extension Bench {
    /// Why the core keeps its own JSON parser instead of Foundation's: the numbers, and
    /// what each accepts. One state document (what a joining node receives, what a restart
    /// reads) parsed by each: LifeboatCore's `JSONParser` (and the whole decode into a
    /// `ClusterState`), Foundation's `JSONSerialization`, and `JSONDecoder` into a generic
    /// `Codable` JSON value (the least a Codable model would do).
    struct JSONParsers: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "json", abstract: "Compare the core's JSON parser with Foundation's on a state document (prints JSON numbers).")

        @Option(help: "Instances in the state.") var instances = 20000
        @Option(help: "Hosts in the state.") var hosts = 400
        @Option(help: "Timed runs of each parser.") var runs = 10

        func validate() throws {
            guard instances >= 0, hosts > 0, runs > 0 else { throw ValidationError("instances, hosts and runs must be positive") }
        }

        /// Any JSON value, decoded the Codable way.
        enum AnyJSON: Decodable {
            case null, bool(Bool), number(Double), string(String), array([AnyJSON]), object([String: AnyJSON])
            init(from decoder: any Decoder) throws {
                let c = try decoder.singleValueContainer()
                if c.decodeNil() { self = .null }
                else if let b = try? c.decode(Bool.self) { self = .bool(b) }
                else if let n = try? c.decode(Double.self) { self = .number(n) }
                else if let s = try? c.decode(String.self) { self = .string(s) }
                else if let a = try? c.decode([AnyJSON].self) { self = .array(a) }
                else { self = .object(try c.decode([String: AnyJSON].self)) }
            }
        }

        func run() throws {
            let generator = ClusterGenerator(hosts: hosts, instances: instances, hostsPerSegment: 50)
            let state = generator.makeScenario(seed: 3).initialState
            let text = JSONWriter.write(state.json)
            let bytes = Array(text.utf8)
            let data = Data(bytes)
            func time(_ body: () throws -> Void) rethrows -> Double {
                var samples: [Double] = []
                for _ in 0..<runs {
                    let t = ContinuousClock.now
                    try body()
                    let d = ContinuousClock.now - t
                    samples.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
                }
                return samples.sorted()[samples.count / 2]
            }
            let ours = try time { _ = try JSONParser.parse(bytes: bytes) }
            let oursDecode = try time { _ = try ClusterState.decode(try JSONParser.parse(bytes: bytes), at: "state") }
            let serialization = try time { _ = try JSONSerialization.jsonObject(with: data) }
            let decoder = try time { _ = try JSONDecoder().decode(AnyJSON.self, from: data) }
            // What each does with a duplicate key (the scenario contract makes it an error).
            let dup = Data(#"{"host": "h1", "host": "h2"}"#.utf8)
            let oursDup = (try? JSONParser.parse(bytes: Array(dup))) == nil ? "error" : "accepted"
            let serDup = (try? JSONSerialization.jsonObject(with: dup)) == nil ? "error" : "accepted (one value silently dropped)"
            let decDup = (try? JSONDecoder().decode(AnyJSON.self, from: dup)) == nil ? "error" : "accepted (one value silently dropped)"
            let mb = Double(bytes.count) / 1_048_576
            func r(_ v: Double) -> JSONValue { .number((v * 100).rounded() / 100) }
            print(JSONWriter.write(.object([
                ("benchmark", .string("json")), ("document_mb", r(mb)), ("instances", .int(instances)), ("hosts", .int(hosts)),
                ("lifeboat_parse_ms", r(ours)), ("lifeboat_parse_and_decode_state_ms", r(oursDecode)),
                ("foundation_jsonserialization_ms", r(serialization)), ("foundation_jsondecoder_generic_ms", r(decoder)),
                ("duplicate_key", .object([("lifeboat", .string(oursDup)), ("jsonserialization", .string(serDup)), ("jsondecoder", .string(decDup))])),
            ]), timeKeys: []))
        }
    }
}
