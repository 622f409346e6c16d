/// Why an agent could not be run or understood.
public enum OCFError: Error, Sendable, Equatable, CustomStringConvertible {
    case badName(String)
    case notFound(String)
    case badMetadata(String)
    case badParameters(String)

    public var description: String {
        switch self {
        case .badName(let n): "'\(n)' is not an OCF agent name (ocf:PROVIDER:TYPE)"
        case .notFound(let why): why
        case .badMetadata(let why): "meta-data: \(why)"
        case .badParameters(let why): why
        }
    }
}
