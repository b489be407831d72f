/// Where and as whom to connect. Builds libpq connection strings; passwords come from
/// the topology's `passfile`, so a connection string is safe to show.
public struct ConnectionSettings: Sendable, Hashable {
    public var host: String
    public var port: Int
    public var database: String
    public var user: String
    public var passfile: String?
    /// libpq rounds anything under 2 s up to 2 s; probes that need less enforce their own deadline.
    public var connectTimeoutSeconds: Int
    /// Server-side limit on every statement of the session; 0 for none.
    public var statementTimeoutMilliseconds: Int
    public var applicationName: String

    public init(
        host: String = "127.0.0.1", port: Int, database: String, user: String, passfile: String?,
        connectTimeoutSeconds: Int = 5, statementTimeoutMilliseconds: Int = 60_000, applicationName: String = "residency"
    ) {
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.passfile = passfile
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.statementTimeoutMilliseconds = statementTimeoutMilliseconds
        self.applicationName = applicationName
    }

    /// `host=... port=... ...`, every value quoted as libpq requires.
    public var connectionString: String {
        var pairs: [(String, String)] = [
            ("host", host), ("port", "\(port)"), ("dbname", database), ("user", user),
            ("connect_timeout", "\(connectTimeoutSeconds)"), ("application_name", applicationName),
        ]
        if let passfile { pairs.append(("passfile", passfile)) }
        if statementTimeoutMilliseconds > 0 {
            pairs.append(("options", "-c statement_timeout=\(statementTimeoutMilliseconds)"))
        }
        return pairs.map { "\($0.0)=\(Self.quote($0.1))" }.joined(separator: " ")
    }

    /// A libpq connection-string value: single-quoted, with `\` and `'` escaped.
    public static func quote(_ value: String) -> String {
        "'" + value.replacing("\\", with: "\\\\").replacing("'", with: "\\'") + "'"
    }
}
