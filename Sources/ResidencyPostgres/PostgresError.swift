/// A failure reaching or using PostgreSQL. `description` is safe to print: it never holds
/// a password (connection strings carry `passfile`, never `password`).
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Could not connect (refused, timed out, authentication).
        case connection
        /// The server answered a statement with an error.
        case statement
        /// A local program (initdb, pg_ctl, pg_basebackup) failed.
        case command
        /// No answer by the caller's deadline; the connection is unusable afterwards.
        case timeout
    }

    public let kind: Kind
    /// The SQLSTATE, for `.statement`.
    public let sqlState: String?
    public let message: String
    /// Where: the node or program involved.
    public let context: String

    public init(kind: Kind, sqlState: String? = nil, message: String, context: String) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.context = context
    }

    public var description: String {
        var text = "\(context): \(message)"
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        return text
    }
}
