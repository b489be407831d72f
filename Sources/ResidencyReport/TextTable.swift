/// Left-aligned columns for a terminal, padded to the widest cell.
public struct TextTable {
    public let header: [String]
    public private(set) var rows: [[String]] = []

    public init(header: [String]) { self.header = header }

    public mutating func append(_ row: [String]) {
        precondition(row.count == header.count, "a row has one cell per column")
        rows.append(row)
    }

    /// The table, each line prefixed with `indent`.
    public func render(indent: String = "") -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            var line = indent
            for (column, cell) in row.enumerated() {
                line += cell
                if column < row.count - 1 { line += String(repeating: " ", count: widths[column] - cell.count + 2) }
            }
            return line
        }.joined(separator: "\n")
    }
}
