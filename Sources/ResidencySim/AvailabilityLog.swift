import ResidencyCore

/// When each shard did not accept commits: told after every event that may change it
/// (`SimulatedShards.acceptsCommits`), kept as outages from the first instant it stopped
/// to the first it accepted again.
struct AvailabilityLog {
    private var downSince: [ShardID: Int] = [:]
    private(set) var outages: [Simulation.Outage] = []

    init(shards: [ShardID]) {}

    mutating func set(_ shard: ShardID, up: Bool, at now: Int) {
        if up {
            guard let since = downSince.removeValue(forKey: shard) else { return }
            if now > since { outages.append(.init(shard: shard.rawValue, fromMilliseconds: since, toMilliseconds: now)) }
        } else if downSince[shard] == nil {
            downSince[shard] = now
        }
    }

    /// Ends the outages still open at the end of the run.
    mutating func close(at now: Int) {
        for (shard, since) in downSince.sorted(by: { $0.key < $1.key }) where now > since {
            outages.append(.init(shard: shard.rawValue, fromMilliseconds: since, toMilliseconds: now))
        }
        downSince = [:]
    }
}
