/// Why a fence device could not do what was asked. The text names the host and the device
/// and never contains a secret.
public struct FenceError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    /// The device did not answer in time (as opposed to answering with an error).
    public var timedOut: Bool

    public init(_ message: String, timedOut: Bool = false) {
        self.message = message
        self.timedOut = timedOut
    }

    public var description: String { message }
}
