import Foundation
import ResidencyCore

/// Where each region's vault and key are, and which region each shard belongs to:
/// `<data root>/vault.json`, written by `up`, read by `wal-push` / `wal-fetch` (which
/// PostgreSQL runs as the server user, with nothing but this file to go on) and by the
/// `backup` commands.
public struct VaultLayout: Codable, Sendable, Equatable {
    public struct RegionVault: Codable, Sendable, Equatable {
        /// The vault's root directory (local storage).
        public var root: String
        /// The region's key file (64 hex digits, mode 0600).
        public var key: String

        public init(root: String, key: String) {
            self.root = root
            self.key = key
        }
    }

    public var version = 1
    /// The `residency` executable PostgreSQL runs (a copy the server user can reach).
    public var binary: String
    /// How long WAL and base backups are kept (the longest retention of the topology's tiers).
    public var retainDays: Int
    public var regions: [String: RegionVault]
    /// Shard → region.
    public var shards: [String: String]

    enum CodingKeys: String, CodingKey {
        case version, binary, retainDays = "retain_days", regions, shards
    }

    public init(binary: String, retainDays: Int, regions: [String: RegionVault], shards: [String: String]) {
        self.binary = binary
        self.retainDays = retainDays
        self.regions = regions
        self.shards = shards
    }

    public static func path(dataRoot: String) -> String { dataRoot + "/vault.json" }

    public static func load(_ path: String) throws(VaultError) -> VaultLayout {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw VaultError(.invalidInput, "cannot read \(path): no vault layout there (written by `residency up`)")
        }
        do {
            return try JSONDecoder().decode(VaultLayout.self, from: data)
        } catch {
            throw VaultError(.invalidInput, "\(path) is not a vault layout: \(error)")
        }
    }

    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data()
    }

    /// The region a shard's backups live in.
    public func region(ofShard shard: String) throws(VaultError) -> String {
        guard let region = shards[shard] else {
            throw VaultError(.invalidInput, "shard \(String(reflecting: shard)) is not in the vault layout (known: \(shards.keys.sorted().joined(separator: ", ")))")
        }
        return region
    }

    /// The vault of a region, opened with its key file or `keyFile` (a key of the customer's own).
    public func vault(region: String, keyFile: String? = nil) throws(VaultError) -> Vault {
        guard let entry = regions[region] else {
            throw VaultError(.invalidInput, "region \(String(reflecting: region)) has no vault (known: \(regions.keys.sorted().joined(separator: ", ")))")
        }
        let key = try VaultKey.load(path: keyFile ?? entry.key)
        return Vault(region: region, storage: LocalVaultStorage(root: entry.root), key: key)
    }

    public func vault(shard: String, keyFile: String? = nil) throws(VaultError) -> Vault {
        try vault(region: try region(ofShard: shard), keyFile: keyFile)
    }

    /// The shell-quoted command PostgreSQL runs to archive a finished segment (`%p`).
    public func archiveCommand(layoutPath: String, shard: String) -> String {
        "\(Self.shellQuote(binary)) wal-push --config \(Self.shellQuote(layoutPath)) --shard \(Self.shellQuote(shard)) %p"
    }

    /// The command PostgreSQL runs to fetch a segment during recovery (`%f` into `%p`): a
    /// segment the prefetcher already holds (`WALPrefetch`) is renamed by `mv`, without
    /// starting this program; anything else, and any failure of that rename, goes to `wal-fetch`
    /// (whose exit status PostgreSQL reads: a failed `mv` must never pass for the end of the archive).
    public func restoreCommand(layoutPath: String, shard: String, systemIdentifier: String) -> String {
        let ready = "pg_wal/\(WALPrefetch.folderName)/%f"
        return "{ [ -f \(ready) ] && /bin/mv -f \(ready) %p 2>/dev/null; } || exec "
            + "\(Self.shellQuote(binary)) wal-fetch --config \(Self.shellQuote(layoutPath)) --shard \(Self.shellQuote(shard))"
            + " --system-id \(Self.shellQuote(systemIdentifier)) %f %p"
    }

    /// Single-quoted for `/bin/sh` (PostgreSQL runs these commands through the shell); a
    /// `%` is doubled, since PostgreSQL reads `%` escapes in these commands.
    static func shellQuote(_ value: String) -> String {
        "'" + value.replacing("'", with: "'\\''").replacing("%", with: "%%") + "'"
    }
}
