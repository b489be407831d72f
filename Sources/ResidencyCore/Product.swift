/// A product whose in-scope data every tenant has; each has a schema of its own on every shard.
public enum Product: String, CaseIterable, Hashable, Sendable, Comparable {
    case jira
    case confluence

    /// The product's tables; every one has `tenant_id` first in its primary key.
    public var tables: [String] {
        switch self {
        case .jira: ["issues", "comments"]
        case .confluence: ["spaces", "pages"]
        }
    }

    public var schemaName: String { rawValue }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}
