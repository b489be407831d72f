/// Why an effect on a node or on the control store did not happen, as the Runtime (or the
/// simulator) reports it back to Core. A failed effect always comes back as one of these,
/// never as success.
public struct EffectFailure: Hashable, Sendable, CustomStringConvertible, Error {
    public enum Kind: String, Hashable, Sendable {
        /// The node (or the control store) did not answer: down, cut off, or refused the connection.
        case unreachable
        /// It answered, but not within the effect's deadline.
        case timedOut = "timed out"
        /// It answered and refused or failed the command.
        case failed
    }

    public let kind: Kind
    public let detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { "\(kind.rawValue): \(detail)" }
}
