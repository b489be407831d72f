/// A setting that differs between the topology `up` created and the one in `regions/` now.
public struct TopologyDifference: Hashable, Sendable, CustomStringConvertible {
    public let key: String
    /// `nil` when the setting is new.
    public let stored: String?
    /// `nil` when the setting was removed.
    public let configured: String?

    public init(key: String, stored: String?, configured: String?) {
        self.key = key
        self.stored = stored
        self.configured = configured
    }

    public var description: String {
        switch (stored, configured) {
        case let (nil, now?): "added   \(key): \(now)"
        case let (was?, nil): "removed \(key): \(was)"
        case let (was?, now?): "changed \(key): \(was) -> \(now)"
        case (nil, nil): "unchanged \(key)"
        }
    }

    /// Every key whose value differs, in key order.
    public static func between(stored: [TopologyFact], configured: [TopologyFact]) -> [TopologyDifference] {
        var old: [String: String] = [:]
        for fact in stored { old[fact.key] = fact.value }
        var new: [String: String] = [:]
        for fact in configured { new[fact.key] = fact.value }
        return Set(old.keys).union(new.keys).sorted().compactMap { key in
            old[key] == new[key] ? nil : TopologyDifference(key: key, stored: old[key], configured: new[key])
        }
    }
}
