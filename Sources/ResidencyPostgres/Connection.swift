import CLibPQ
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One libpq connection, owned by one caller at a time. Calls block: never use it on the
/// cooperative thread pool. The `PGconn` is created in `init`, freed in `deinit`, and
/// never leaves this type.
public final class Connection {
    private let conn: OpaquePointer
    /// Where libpq's notice receiver puts NOTICE and WARNING messages of this connection.
    private let notices = NoticeBuffer()
    /// For messages: `127.0.0.1:25410`.
    public let address: String

    /// Connects; throws `PostgresError(kind: .connection)` with libpq's message.
    public init(_ settings: ConnectionSettings) throws(PostgresError) {
        address = "\(settings.host):\(settings.port)"
        guard let conn = PQconnectdb(settings.connectionString) else {
            throw PostgresError(kind: .connection, message: "out of memory", context: address)
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = Self.trimmed(String(cString: PQerrorMessage(conn)))
            PQfinish(conn)
            throw PostgresError(kind: .connection, message: message, context: address)
        }
        self.conn = conn
        PQsetNoticeReceiver(conn, { context, result in
            guard let context, let result else { return }
            let buffer = Unmanaged<NoticeBuffer>.fromOpaque(context).takeUnretainedValue()
            let severity = PQresultErrorField(result, Int32(UInt8(ascii: "V"))).map { String(cString: $0) } ?? ""
            let message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) } ?? ""
            buffer.messages.append(Notice(severity: severity, message: message))
        }, Unmanaged.passUnretained(notices).toOpaque())
    }

    /// A NOTICE or WARNING the server sent (for example that the wait for synchronous
    /// replication was cancelled, which makes a commit's outcome unknown).
    public struct Notice: Sendable, Hashable {
        public let severity: String
        public let message: String
    }

    /// The notices received since the last call, oldest first.
    public func takeNotices() -> [Notice] {
        defer { notices.messages.removeAll() }
        return notices.messages
    }

    deinit { PQfinish(conn) }

    /// Runs one statement with `$1...` parameters sent separately from the SQL text.
    @discardableResult
    public func query(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> QueryResult {
        let result: OpaquePointer? = Self.withCStrings(parameters) { pointers in
            PQexecParams(conn, sql, Int32(parameters.count), nil, pointers, nil, nil, 0)
        }
        return try consume(result)
    }

    /// Runs a script of statements without parameters (DDL, which takes none).
    public func execute(_ script: String) throws(PostgresError) {
        try consume(PQexec(conn, script))
    }

    @discardableResult
    private func consume(_ result: OpaquePointer?) throws(PostgresError) -> QueryResult {
        guard let result else {
            throw PostgresError(kind: .connection, message: Self.trimmed(String(cString: PQerrorMessage(conn))), context: address)
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            let columnCount = PQnfields(result)
            let rowCount = PQntuples(result)
            let columns = (0..<columnCount).map { String(cString: PQfname(result, $0)) }
            var rows: [[String?]] = []
            rows.reserveCapacity(Int(rowCount))
            for row in 0..<rowCount {
                rows.append((0..<columnCount).map { column in
                    PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
                })
            }
            return QueryResult(columns: columns, rows: rows)
        default:
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
                ?? Self.trimmed(String(cString: PQerrorMessage(conn)))
            let kind: PostgresError.Kind = PQstatus(conn) == CONNECTION_OK ? .statement : .connection
            throw PostgresError(kind: kind, sqlState: state, message: message, context: address)
        }
    }

    /// Owned by the connection, which outlives every callback libpq makes into it.
    private final class NoticeBuffer {
        var messages: [Notice] = []
    }

    private static func trimmed(_ message: String) -> String {
        var text = Substring(message)
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }

    /// Lends NUL-terminated copies of `strings` (NULL for `nil`) for the duration of `body`.
    private static func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
        let copies: [UnsafeMutablePointer<CChar>?] = strings.map { $0.flatMap { strdup($0) } }
        defer { copies.forEach { free($0) } }
        return body(copies.map { $0.map { UnsafePointer($0) } })
    }
}
