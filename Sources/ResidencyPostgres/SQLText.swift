/// Quoting for the only places PostgreSQL takes no parameters (DDL). Callers pass values
/// that already passed strict validation (`Identifier`, `TenantID`, generated passwords);
/// quoting is the second fence, not the first.
public enum SQLText {
    /// `'it''s'`. With `standard_conforming_strings` on (the default since 9.1) a backslash is literal.
    public static func literal(_ value: String) -> String {
        precondition(!value.contains("\0"), "NUL cannot reach SQL")
        return "'" + value.replacing("'", with: "''") + "'"
    }

    /// `"app_tempo"`.
    public static func identifier(_ name: String) -> String {
        precondition(!name.contains("\0"), "NUL cannot reach SQL")
        return "\"" + name.replacing("\"", with: "\"\"") + "\""
    }

    /// `'SCRAM-SHA-256$...'` for a SCRAM verifier (`Connection.scramVerifier`); `nil` for
    /// anything else, so a clear password can never be quoted into `PASSWORD`.
    public static func verifier(_ value: String) -> String? {
        guard value.hasPrefix("SCRAM-SHA-256$"), value.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "'") }) else { return nil }
        return literal(value)
    }
}
