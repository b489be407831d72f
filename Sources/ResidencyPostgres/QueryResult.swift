/// The rows of one statement, copied out of libpq's `PGresult` (text format).
public struct QueryResult: Sendable {
    public let columns: [String]
    public let rows: [[String?]]

    public init(columns: [String], rows: [[String?]]) {
        self.columns = columns
        self.rows = rows
    }

    /// The first row's first value.
    public var scalar: String? { rows.first?.first ?? nil }
}
