/// Loopback TCP ports a region's nodes use in local mode, both ends included.
public struct PortRange: Hashable, Sendable, Codable, CustomStringConvertible {
    public let first: Int
    public let last: Int

    public init(first: Int, last: Int) {
        self.first = first
        self.last = last
    }

    public var count: Int { last - first + 1 }
    public func contains(_ port: Int) -> Bool { port >= first && port <= last }
    public func overlaps(_ other: PortRange) -> Bool { first <= other.last && other.first <= last }
    public var description: String { "\(first)-\(last)" }
}
