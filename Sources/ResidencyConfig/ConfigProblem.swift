/// One thing wrong with a configuration file, at a position a person can jump to.
public struct ConfigProblem: Error, Hashable, Sendable, CustomStringConvertible {
    /// The path as the user gave it (relative paths stay relative).
    public let file: String
    /// 1-based.
    public let line: Int
    /// 1-based, in Unicode scalars.
    public let column: Int
    public let message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    /// `regions/eu-central.yaml:14:3: zone 'eu-c' is not in region 'eu-central'`
    public var description: String { "\(file):\(line):\(column): \(message)" }
}

/// Every problem found in one load; thrown when there is at least one.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public let problems: [ConfigProblem]

    public init(problems: [ConfigProblem]) { self.problems = problems }

    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
