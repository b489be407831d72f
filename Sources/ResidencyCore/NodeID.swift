/// One PostgreSQL server: the member of `shard` in `zone`.
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let shard: ShardID
    public let zone: ZoneID

    public init(shard: ShardID, zone: ZoneID) {
        self.shard = shard
        self.zone = zone
    }

    /// `eu-central-1/eu-central-a`: how people read it.
    public var description: String { "\(shard)/\(zone)" }

    /// `eu_central_1__eu_central_a`: a PostgreSQL name (replication slot, `application_name`,
    /// entry of `synchronous_standby_names`). Injective because well-formed names have no
    /// `_` and no `--`; at most 2 x 28 + 2 bytes, under PostgreSQL's 63.
    public var postgresName: String {
        shard.rawValue.replacing("-", with: "_") + "__" + zone.rawValue.replacing("-", with: "_")
    }

    /// A file-system name for the node's folder: `eu-central-1.eu-central-a`.
    public var fileName: String { "\(shard).\(zone)" }

    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.shard, lhs.zone) < (rhs.shard, rhs.zone) }
}
