/// Where a region's primaries sit, and how to spread them evenly over its zones: a zone
/// loss then hits a share of the shards, not all of them.
public enum PrimarySpread {
    /// A shard as placement sees it: its member zones, and its pinned zone if any.
    public struct Request: Hashable, Sendable {
        public let shard: ShardID
        public let zones: [ZoneID]
        public let pinned: ZoneID?

        public init(shard: ShardID, zones: [ZoneID], pinned: ZoneID?) {
            self.shard = shard
            self.zones = zones
            self.pinned = pinned
        }
    }

    /// The initial primary's zone of every shard: a pinned shard keeps its zone; the others,
    /// in order, go round-robin over `zones` (each to the member zone holding the fewest
    /// primaries so far, ties in zone order after the last one used).
    public static func place(_ shards: [Request], zones: [ZoneID]) -> [ShardID: ZoneID] {
        var placed: [ShardID: ZoneID] = [:]
        var count = Dictionary(uniqueKeysWithValues: zones.map { ($0, 0) })
        for shard in shards {
            if let pinned = shard.pinned {
                placed[shard.shard] = pinned
                count[pinned, default: 0] += 1
            }
        }
        var cursor = 0
        for shard in shards where shard.pinned == nil {
            let order = (0..<zones.count).map { zones[(cursor + $0) % zones.count] }.filter(shard.zones.contains)
            guard let zone = order.min(by: { count[$0, default: 0] < count[$1, default: 0] }) else { continue }
            placed[shard.shard] = zone
            count[zone, default: 0] += 1
            cursor = (zones.firstIndex(of: zone).map { $0 + 1 } ?? cursor) % max(1, zones.count)
        }
        return placed
    }

    /// One planned switchover of a rebalance.
    public struct Move: Hashable, Sendable {
        public let shard: ShardID
        public let from: ZoneID
        public let to: ZoneID
    }

    public enum Refusal: Error, Hashable, Sendable, CustomStringConvertible {
        /// A failover or switchover runs on a shard of the region.
        case operationInProgress(ShardID)
        /// A shard is not healthy: switching it over could fail or take long.
        case unhealthy(ShardID, String)

        public var description: String {
            switch self {
            case let .operationInProgress(shard):
                "an operation is in progress on \(shard); a rebalance never runs during a failover (try again when `residency status` shows it done)"
            case let .unhealthy(shard, why):
                "\(shard) is not healthy (\(why)); rebalance only moves primaries of healthy shards"
            }
        }
    }

    /// A shard's current state, as a rebalance plan needs it.
    public struct Current: Hashable, Sendable {
        public let shard: Shard
        public let primary: NodeID
        public let operationInProgress: Bool
        /// Empty when healthy (primary answers, every standby streams).
        public let problems: [String]

        public init(shard: Shard, primary: NodeID, operationInProgress: Bool, problems: [String]) {
            self.shard = shard
            self.primary = primary
            self.operationInProgress = operationInProgress
            self.problems = problems
        }
    }

    /// The switchovers that bring `region`'s primaries to an even spread (no zone holds
    /// more than one primary more than another), fewest first: each takes a shard from the
    /// most loaded zone to the least loaded zone it has a member in. Refused while any shard
    /// of the region has an operation in progress or a shard that would move is unhealthy.
    public static func plan(_ region: Region, current: [Current]) -> Result<[Move], Refusal> {
        if let busy = current.first(where: \.operationInProgress) { return .failure(.operationInProgress(busy.shard.id)) }
        var primary = Dictionary(current.map { ($0.shard.id, $0.primary.zone) }, uniquingKeysWith: { a, _ in a })
        let byShard = Dictionary(current.map { ($0.shard.id, $0) }, uniquingKeysWith: { a, _ in a })
        var moves: [Move] = []
        var moved: Set<ShardID> = []
        while true {
            var count = Dictionary(uniqueKeysWithValues: region.zones.map { ($0, 0) })
            for zone in primary.values { count[zone, default: 0] += 1 }
            let zoneOrder = region.zones
            guard let most = zoneOrder.max(by: { count[$0]! < count[$1]! || (count[$0]! == count[$1]! && zoneOrder.firstIndex(of: $0)! > zoneOrder.firstIndex(of: $1)!) }),
                  let least = zoneOrder.min(by: { count[$0]! < count[$1]! || (count[$0]! == count[$1]! && zoneOrder.firstIndex(of: $0)! < zoneOrder.firstIndex(of: $1)!) }),
                  count[most]! - count[least]! > 1
            else { return .success(moves) }
            // The first shard (by id) in the most loaded zone with a member in the least loaded.
            guard let candidate = current.map(\.shard).filter({ primary[$0.id] == most && $0.zones.contains(least) && !moved.contains($0.id) })
                .min(by: { $0.id < $1.id })
            else { return .success(moves) }
            if let state = byShard[candidate.id], !state.problems.isEmpty {
                return .failure(.unhealthy(candidate.id, state.problems.joined(separator: "; ")))
            }
            moves.append(Move(shard: candidate.id, from: most, to: least))
            moved.insert(candidate.id)
            primary[candidate.id] = least
        }
    }
}
