/// A typed name: a `ZoneID` can never be passed where a `ShardID` is expected.
///
/// Names of realms, regions, zones, shards and apps follow `Identifier.isWellFormed`
/// (lower-case words joined by single hyphens), which keeps them safe to derive
/// PostgreSQL identifiers, replication slot names and file names from.
public struct Identifier<Kind>: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String
    /// The name's hash, computed once: the coordinator looks nodes and shards up in
    /// dictionaries many times per decision, and a region may hold thousands of them.
    private let hashCache: Int

    public init(_ rawValue: String) {
        self.rawValue = rawValue
        hashCache = rawValue.hashValue
    }

    public init(stringLiteral value: String) { self.init(value) }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.hashCache == rhs.hashCache && lhs.rawValue == rhs.rawValue }
    public func hash(into hasher: inout Hasher) { hasher.combine(hashCache) }

    public var description: String { rawValue }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The longest accepted name. Two names and a separator must fit PostgreSQL's 63-byte
    /// identifiers (slot names are derived from shard + zone).
    public static var maximumLength: Int { 28 }

    /// `[a-z][a-z0-9]*(-[a-z0-9]+)*`, at most `maximumLength` characters (or `length`, for
    /// other names of the same form, like a scenario's).
    public static func isWellFormed(_ name: String, length: Int? = nil) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= length ?? maximumLength, isLower(first), bytes.last != hyphen else {
            return false
        }
        var previous: UInt8 = first
        for byte in bytes.dropFirst() {
            if byte == hyphen {
                if previous == hyphen { return false }
            } else if !(isLower(byte) || isDigit(byte)) {
                return false
            }
            previous = byte
        }
        return true
    }

    private static var hyphen: UInt8 { UInt8(ascii: "-") }
    private static func isLower(_ b: UInt8) -> Bool { b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z") }
    private static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
}

public enum RealmKind {}
public enum RegionKind {}
public enum ZoneKind {}
public enum ShardKind {}
public enum AppKind {}
public enum TierKind {}

public typealias RealmID = Identifier<RealmKind>
public typealias RegionID = Identifier<RegionKind>
public typealias ZoneID = Identifier<ZoneKind>
public typealias ShardID = Identifier<ShardKind>
public typealias AppKey = Identifier<AppKind>
public typealias TierID = Identifier<TierKind>

extension Identifier: Codable {
    public init(from decoder: any Decoder) throws {
        self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
