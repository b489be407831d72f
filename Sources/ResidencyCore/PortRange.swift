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

    /// Linux's default ephemeral range (`net.ipv4.ip_local_port_range`): the kernel hands
    /// these to outgoing connections, which can hold a server's port when it restarts.
    public static let ephemeral = PortRange(first: 32_768, last: 60_999)
    /// PostgreSQL's default port, where some other server is likely to listen already.
    public static let postgresDefault = 5432

    /// Why the range cannot hold servers of a topology; `nil` when it can.
    public var unsuitability: String? {
        if contains(Self.postgresDefault) { return "include \(Self.postgresDefault), PostgreSQL's default port" }
        if overlaps(Self.ephemeral) { return "overlap Linux's ephemeral ports \(Self.ephemeral), which outgoing connections take" }
        return nil
    }
}
