/// A residency location a tenant can be pinned to; maps to one or more regions.
public struct Realm: Hashable, Sendable, Codable {
    public let id: RealmID
    /// In the order the configuration gives them.
    public let regions: [RegionID]

    public init(id: RealmID, regions: [RegionID]) {
        self.id = id
        self.regions = regions
    }
}
