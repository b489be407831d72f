/// Why the vault refused or failed. `kind` decides the exit code: a missing object is its
/// own kind (`wal-fetch` exits 74 on it, the end of the archive), and an object that does not
/// authenticate is never mistaken for a missing one.
public struct VaultError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// No such object in the vault.
        case notFound
        /// The object does not authenticate: a changed byte, a truncated or extended object,
        /// a header that was edited.
        case corrupt
        /// The object was sealed with another key than the one given.
        case wrongKey
        /// Refused by the write-once rules: an overwrite, or a delete before retain-until.
        case retained
        /// Bad input from the caller: a name, a key file, a time.
        case invalidInput
        /// The file system, a program, a server.
        case io
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
