/// An installed app of the catalogue; its data is a dataset of its own per tenant.
public struct App: Hashable, Sendable, Codable {
    public let key: AppKey
    /// Whether the app's data moves with the tenant's pin; an ineligible app's data stays.
    public let residencyEligible: Bool

    public init(key: AppKey, residencyEligible: Bool) {
        self.key = key
        self.residencyEligible = residencyEligible
    }

    /// The PostgreSQL schema holding the app's tables: `app_` + key with `-` as `_`.
    public var schemaName: String { "app_" + key.rawValue.replacing("-", with: "_") }
}
