/// A tenant's name: `[a-z0-9-]{1,63}`. It reaches SQL only as a parameter, or (in DDL,
/// which takes none) as a quoted literal after this validation.
public struct TenantID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: String

    /// Accepts only well-formed names; `nil` otherwise.
    public init?(validating name: String) {
        let bytes = Array(name.utf8)
        guard (1...63).contains(bytes.count), bytes.allSatisfy(TenantID.isAllowed) else { return nil }
        self.rawValue = name
    }

    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public static let pattern = "[a-z0-9-]{1,63}"

    private static func isAllowed(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
            || b == UInt8(ascii: "-")
    }
}

extension TenantID: Codable {
    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let id = TenantID(validating: name) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "invalid tenant name '\(name)'"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
