import ResidencyCore

/// An operating error of Runtime, with the category the CLI turns into an exit code.
public struct RuntimeError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The user's input is wrong (exit 65): a tenant name, an unknown realm, a changed `regions/`.
        case invalidInput
        /// It could not be done (exit 2): a server unreachable, a step failed.
        case unavailable
        /// A journaled write found the lease held by another coordinator (or expired): act on no node (exit 2).
        case notLeader
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// A journaled write found the lease held by someone else (or expired): act on no node.
    static func notLeader(_ token: Int64) -> RuntimeError {
        RuntimeError(.notLeader, "lease token \(token) is no longer valid: another coordinator leads")
    }

    static func topologyChanged(_ differences: [TopologyDifference], state: String) -> RuntimeError {
        RuntimeError(.invalidInput, """
            regions/ no longer matches the topology created in \(state); nothing was changed. Differences:
            \(differences.map { "  " + $0.description }.joined(separator: "\n"))
            Restore regions/ to match, or remove the topology (residency down --purge) and create it anew.
            """)
    }
}
