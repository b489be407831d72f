/// Contracted monthly uptime per tier and the service credits owed below it.
/// The defaults in `regions/` are an example; the real contract decides.
public struct ServiceLevels: Hashable, Sendable, Codable {
    public let tiers: [Tier]

    public init(tiers: [Tier]) { self.tiers = tiers }

    public func tier(_ id: TierID) -> Tier? { tiers.first { $0.id == id } }
}

/// A service tier, e.g. Premium at 99.9 % monthly uptime.
public struct Tier: Hashable, Sendable, Codable {
    public let id: TierID
    /// Monthly uptime target, in percent.
    public let uptimeTargetPercent: Double
    /// Credit bands, highest uptime first: the first band whose `uptimeBelowPercent` is
    /// above the measured uptime gives the credit.
    public let creditBands: [CreditBand]

    public init(id: TierID, uptimeTargetPercent: Double, creditBands: [CreditBand]) {
        self.id = id
        self.uptimeTargetPercent = uptimeTargetPercent
        self.creditBands = creditBands.sorted { $0.uptimeBelowPercent > $1.uptimeBelowPercent }
    }

    /// The service credit, in percent of the monthly fee, owed for `uptimePercent`.
    public func creditPercent(forUptime uptimePercent: Double) -> Double {
        creditBands.last { uptimePercent < $0.uptimeBelowPercent }?.creditPercent ?? 0
    }
}

/// Below `uptimeBelowPercent` monthly uptime, `creditPercent` of the fee is credited.
public struct CreditBand: Hashable, Sendable, Codable {
    public let uptimeBelowPercent: Double
    public let creditPercent: Double

    public init(uptimeBelowPercent: Double, creditPercent: Double) {
        self.uptimeBelowPercent = uptimeBelowPercent
        self.creditPercent = creditPercent
    }
}
