import CLibPQ
import ResidencyCore
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
    public convenience init(_ settings: ConnectionSettings) throws(PostgresError) {
        try self.init(connectionString: settings.connectionString, address: "\(settings.host):\(settings.port)")
    }

    /// Connects with libpq's blocking call, which honours `connect_timeout` per host of a
    /// multi-host connection string (and so moves on past a frozen first host).
    public init(connectionString: String, address: String) throws(PostgresError) {
        self.address = address
        guard let conn = PQconnectdb(connectionString) else {
            throw PostgresError(kind: .connection, message: "out of memory", context: address)
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = Self.trimmed(String(cString: PQerrorMessage(conn)))
            PQfinish(conn)
            throw PostgresError(kind: .connection, message: message, context: address)
        }
        self.conn = conn
        installNoticeReceiver()
    }

    /// Connects to one server within `deadline`, with libpq's non-blocking calls, so that a
    /// frozen server (which still completes the TCP handshake) costs the deadline and no more.
    public init(_ settings: ConnectionSettings, deadline: ContinuousClock.Instant) throws(PostgresError) {
        address = "\(settings.host):\(settings.port)"
        guard let conn = PQconnectStart(settings.connectionString) else {
            throw PostgresError(kind: .connection, message: "out of memory", context: address)
        }
        var status = PGRES_POLLING_WRITING
        while status != PGRES_POLLING_OK {
            guard status != PGRES_POLLING_FAILED, PQstatus(conn) != CONNECTION_BAD else {
                let message = Self.trimmed(String(cString: PQerrorMessage(conn)))
                PQfinish(conn)
                throw PostgresError(kind: .connection, message: message, context: address)
            }
            guard Self.wait(for: conn, reading: status == PGRES_POLLING_READING, until: deadline) else {
                PQfinish(conn)
                throw PostgresError(kind: .timeout, message: "no connection by the deadline", context: address)
            }
            status = PQconnectPoll(conn)
        }
        self.conn = conn
        installNoticeReceiver()
    }

    /// Runs one statement with parameters, giving up at `deadline`; after a timeout the
    /// connection is unusable and must be dropped.
    @discardableResult
    public func query(_ sql: String, _ parameters: [String?] = [], deadline: ContinuousClock.Instant) throws(PostgresError) -> QueryResult {
        let sent = Self.withCStrings(parameters) { pointers in
            PQsendQueryParams(conn, sql, Int32(parameters.count), nil, pointers, nil, nil, 0)
        }
        return try awaitResult(sent: sent, deadline: deadline)
    }

    /// When set, `query(_:_:)` and `execute(_:)` give up after this long (a frozen server
    /// answers nothing and enforces no `statement_timeout`); the connection is then unusable.
    public var answerTimeout: Duration?

    private func awaitResult(sent: Int32, deadline: ContinuousClock.Instant) throws(PostgresError) -> QueryResult {
        guard sent == 1 else {
            throw PostgresError(kind: .connection, message: Self.trimmed(String(cString: PQerrorMessage(conn))), context: address)
        }
        while PQflush(conn) == 1 {
            guard Self.wait(for: conn, reading: false, until: deadline) else {
                throw PostgresError(kind: .timeout, message: "no answer by the deadline", context: address)
            }
        }
        var last: OpaquePointer?
        while true {
            while PQisBusy(conn) == 1 {
                guard Self.wait(for: conn, reading: true, until: deadline) else {
                    if let last { PQclear(last) }
                    throw PostgresError(kind: .timeout, message: "no answer by the deadline", context: address)
                }
                guard PQconsumeInput(conn) == 1 else {
                    if let last { PQclear(last) }
                    throw PostgresError(kind: .connection, message: Self.trimmed(String(cString: PQerrorMessage(conn))), context: address)
                }
            }
            guard let result = PQgetResult(conn) else { break }
            if let last { PQclear(last) }
            last = result
        }
        return try consume(last)
    }

    /// Waits until the connection's socket is readable (or writable) or `deadline` passes.
    private static func wait(for conn: OpaquePointer, reading: Bool, until deadline: ContinuousClock.Instant) -> Bool {
        let socket = PQsocket(conn)
        guard socket >= 0 else { return false }
        while true {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { return false }
            let milliseconds = Int32(clamping: remaining.inMilliseconds + 1)
            var descriptor = pollfd(fd: socket, events: Int16(reading ? POLLIN : POLLOUT), revents: 0)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready > 0 { return true }
            if ready < 0 && errno != EINTR { return false }
        }
    }

    private func installNoticeReceiver() {
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

        /// The server's WARNING that a commit's wait for synchronous replication was
        /// cancelled (it carries no SQLSTATE of its own, only this text): the commit is
        /// local only, its outcome unknown to a client.
        public var cancelsSynchronousWait: Bool { severity == "WARNING" && message.contains("synchronous replication") }
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
        if let answerTimeout { return try query(sql, parameters, deadline: .now + answerTimeout) }
        let result: OpaquePointer? = Self.withCStrings(parameters) { pointers in
            PQexecParams(conn, sql, Int32(parameters.count), nil, pointers, nil, nil, 0)
        }
        return try consume(result)
    }

    /// The SCRAM-SHA-256 verifier of `password` for `role` (libpq's `PQencryptPasswordConn`,
    /// computed here, on the client): what `CREATE ROLE ... PASSWORD` gets, so that the
    /// password itself never reaches the server, its logs or its catalogue.
    public func scramVerifier(password: String, role: String) throws(PostgresError) -> String {
        guard let encrypted = PQencryptPasswordConn(conn, password, role, "scram-sha-256") else {
            throw PostgresError(kind: .connection, message: Self.trimmed(String(cString: PQerrorMessage(conn))), context: address)
        }
        defer { PQfreemem(encrypted) }
        return String(cString: encrypted)
    }

    /// Runs a script of statements without parameters (DDL, which takes none) with the
    /// simple query protocol (the only one a replication connection speaks); returns the
    /// last statement's result.
    @discardableResult
    public func execute(_ script: String) throws(PostgresError) -> QueryResult {
        if let answerTimeout { return try awaitResult(sent: PQsendQuery(conn, script), deadline: .now + answerTimeout) }
        return try consume(PQexec(conn, script))
    }

    /// Streams the data of `copyOut` (a `COPY ... TO STDOUT`) on this connection into
    /// `copyIn` (a `COPY ... FROM STDIN` of the same format) on `target`, a buffer at a time,
    /// without parsing it. `progress` gets the bytes moved so far every 4 MiB. Returns the
    /// rows the target took. On an error, or when `shouldStop` (asked before every buffer)
    /// says so, the target's COPY is aborted (nothing of it stays).
    @discardableResult
    public func copy(_ copyOut: String, into target: Connection, _ copyIn: String, progress: (Int64) -> Void = { _ in },
                     shouldStop: () -> Bool = { false }) throws(PostgresError) -> Int64 {
        try expectCopy(PQexec(conn, copyOut), PGRES_COPY_OUT)
        do {
            try target.expectCopy(PQexec(target.conn, copyIn), PGRES_COPY_IN)
        } catch {
            drainCopyOut()
            throw error
        }
        var moved: Int64 = 0
        var reported: Int64 = 0
        var failure: PostgresError?
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(conn, &buffer, 0)
            if length > 0, let buffer {
                if shouldStop() {
                    PQfreemem(buffer)
                    failure = PostgresError(kind: .statement, message: "the copy was stopped", context: target.address)
                    break
                }
                let put = PQputCopyData(target.conn, buffer, length)
                PQfreemem(buffer)
                if put != 1 {
                    failure = PostgresError(kind: .connection, message: Self.trimmed(String(cString: PQerrorMessage(target.conn))), context: target.address)
                    break
                }
                moved += Int64(length)
                if moved - reported >= 4 << 20 {
                    reported = moved
                    progress(moved)
                }
                continue
            }
            if length == -2 {
                failure = PostgresError(kind: .connection, message: Self.trimmed(String(cString: PQerrorMessage(conn))), context: address)
            }
            break
        }
        if failure == nil {
            // The source's COPY result (an error here means the data is incomplete).
            do {
                try consumeAll()
            } catch {
                failure = error
            }
        } else {
            drainCopyOut()
        }
        PQputCopyEnd(target.conn, failure == nil ? nil : "residency: the source side of the copy failed")
        var rows: Int64 = 0
        do {
            rows = try target.consumeAll()
        } catch {
            if failure == nil { failure = error }
        }
        if let failure { throw failure }
        progress(moved)
        return rows
    }

    /// The whole output of `copyOut` (a `COPY ... TO STDOUT`), in memory.
    public func copyOut(_ copyOut: String) throws(PostgresError) -> [UInt8] {
        try expectCopy(PQexec(conn, copyOut), PGRES_COPY_OUT)
        var bytes: [UInt8] = []
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(conn, &buffer, 0)
            if length > 0, let buffer {
                buffer.withMemoryRebound(to: UInt8.self, capacity: Int(length)) { bytes.append(contentsOf: UnsafeBufferPointer(start: $0, count: Int(length))) }
                PQfreemem(buffer)
                continue
            }
            if length == -2 {
                let failure = PostgresError(kind: .connection, message: Self.trimmed(String(cString: PQerrorMessage(conn))), context: address)
                drainCopyOut()
                throw failure
            }
            break
        }
        try consumeAll()
        return bytes
    }

    /// Checks that `result` opened a COPY in `status`; clears it.
    private func expectCopy(_ result: OpaquePointer?, _ status: ExecStatusType) throws(PostgresError) {
        guard let result, PQresultStatus(result) == status else {
            try consume(result)
            throw PostgresError(kind: .statement, message: "the statement did not start a COPY", context: address)
        }
        PQclear(result)
    }

    /// Reads every pending result; throws the first error; returns the rows of the last command.
    @discardableResult
    private func consumeAll() throws(PostgresError) -> Int64 {
        var rows: Int64 = 0
        var failure: PostgresError?
        while let result = PQgetResult(conn) {
            if PQresultStatus(result) == PGRES_COMMAND_OK {
                rows = Int64(String(cString: PQcmdTuples(result))) ?? rows
                PQclear(result)
            } else if failure == nil {
                do { try consume(result) } catch { failure = error }
            } else {
                PQclear(result)
            }
        }
        if let failure { throw failure }
        return rows
    }

    /// Reads and drops what is left of a COPY OUT, so the connection is usable again.
    private func drainCopyOut() {
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(conn, &buffer, 0)
            if let buffer { PQfreemem(buffer) }
            if length < 0 { break }
        }
        while let result = PQgetResult(conn) { PQclear(result) }
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
