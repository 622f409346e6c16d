import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// What an agent's `meta-data` action says about itself: its parameters (required ones,
/// defaults) and the default timeout of each action.
public struct OCFMetadata: Sendable, Equatable {
    public struct Parameter: Sendable, Equatable {
        public var name: String
        public var required: Bool
        public var defaultValue: String?
    }

    public var name: String
    public var parameters: [Parameter]
    /// Action name → default timeout in seconds (from `<action name= timeout=>`).
    public var timeouts: [String: Double]
    public var actions: Set<String>

    /// Reads the XML the agent printed; errors say what is wrong with it.
    public static func parse(_ xml: String) throws(OCFError) -> OCFMetadata {
        let body = try withoutDeclaration(xml)
        let delegate = Reader()
        let parser = XMLParser(data: Data(body.utf8))
        parser.delegate = delegate
        guard parser.parse(), let root = delegate.rootName else {
            let why = parser.parserError.map { "\($0.localizedDescription)" } ?? "no document"
            throw .badMetadata("not well-formed XML (\(why)) at line \(parser.lineNumber)")
        }
        guard root == "resource-agent" else { throw .badMetadata("the root element is <\(root)>, not <resource-agent>") }
        if let problem = delegate.problem { throw .badMetadata(problem) }
        return OCFMetadata(
            name: delegate.agentName ?? "", parameters: delegate.parameters, timeouts: delegate.timeouts,
            actions: delegate.actions)
    }

    /// The document without its XML declaration, and refused if it holds any other
    /// processing instruction. Found by fuzzing: swift-corelibs-foundation's XMLParser
    /// dereferences a null pointer (strlen) on a processing instruction libxml2 reports
    /// without data (`<?xml ver unique="0">…`), which would crash lifeboatd on one agent's
    /// odd output. OCF meta-data needs none; the declaration only names the encoding,
    /// and the text is UTF-8 already.
    static func withoutDeclaration(_ xml: String) throws(OCFError) -> Substring {
        // On bytes, not Characters: a `?` followed by a combining mark is one Character,
        // so `contains("<?")` on the String misses `<?ُ…?>` (found by the fuzzer too).
        let bytes = Array(xml.utf8)
        func find(_ needle: [UInt8], from: Int) -> Int? {
            guard bytes.count >= needle.count, from <= bytes.count - needle.count else { return nil }
            for i in from...(bytes.count - needle.count) where bytes[i] == needle[0] && Array(bytes[i..<i + needle.count]) == needle {
                return i
            }
            return nil
        }
        var start = 0
        while start < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[start]) { start += 1 }
        if bytes.count - start >= 5, Array(bytes[start..<start + 5]) == Array("<?xml".utf8) {
            guard let end = find(Array("?>".utf8), from: start + 2), !bytes[(start + 2)..<end].contains(UInt8(ascii: "<")) else {
                throw .badMetadata("the XML declaration is not closed with ?> at line 1")
            }
            start = end + 2
        }
        if find(Array("<?".utf8), from: start) != nil {
            throw .badMetadata("processing instructions (<?…?>) other than the XML declaration are not allowed")
        }
        return Substring(String(decoding: bytes[start...], as: UTF8.self))
    }

    /// Parameters the configuration gives that the agent does not know, and required ones
    /// it does not give: a clear error before anything runs.
    public func check(_ params: [String: String]) -> String? {
        let known = Set(parameters.map(\.name))
        let unknown = params.keys.filter { !known.contains($0) }.sorted()
        if !unknown.isEmpty {
            return "unknown parameter\(unknown.count > 1 ? "s" : "") \(unknown.joined(separator: ", ")) (the agent has: \(parameters.map(\.name).joined(separator: ", ")))"
        }
        let missing = parameters.filter { $0.required && params[$0.name] == nil }.map(\.name)
        if !missing.isEmpty { return "required parameter\(missing.count > 1 ? "s" : "") \(missing.joined(separator: ", ")) not given" }
        return nil
    }

    /// Pacemaker's time values: `20`, `20s`, `500ms`, `2m`, `2min`, `1h`; nil if not one.
    public static func seconds(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        let digits = t.prefix { $0.isNumber || $0 == "." }
        guard let n = Double(digits), n >= 0 else { return nil }
        switch t.dropFirst(digits.count).trimmingCharacters(in: .whitespaces) {
        case "", "s", "sec", "secs": return n
        case "ms", "msec", "msecs": return n / 1000
        case "m", "min", "mins": return n * 60
        case "h", "hr", "hrs": return n * 3600
        default: return nil
        }
    }

    final class Reader: NSObject, XMLParserDelegate {
        var rootName: String?
        var agentName: String?
        var parameters: [Parameter] = []
        var timeouts: [String: Double] = [:]
        var actions: Set<String> = []
        var path: [String] = []
        /// The first thing wrong with an otherwise well-formed document.
        var problem: String?

        func parser(
            _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
            attributes a: [String: String] = [:]
        ) {
            if rootName == nil {
                rootName = name
                agentName = a["name"]
            }
            path.append(name)
            switch name {
            case "parameter" where path.dropLast().last == "parameters":
                guard let n = a["name"], !n.isEmpty else {
                    // (Skipping it would hand its <content default=> to the parameter before.)
                    problem = problem ?? "a <parameter> without a name"
                    break
                }
                parameters.append(Parameter(name: n, required: a["required"] == "1" || a["required"] == "true"))
            case "content" where path.dropLast().last == "parameter":
                if let d = a["default"], !parameters.isEmpty { parameters[parameters.count - 1].defaultValue = d }
            case "action" where path.dropLast().last == "actions":
                guard let n = a["name"] else { break }
                actions.insert(n)
                // A recurring monitor's timeout is the monitor timeout; the first one wins.
                if let t = a["timeout"].flatMap(OCFMetadata.seconds), timeouts[n] == nil { timeouts[n] = t }
            default: break
            }
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            _ = path.popLast()
        }
    }
}
