import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import ResidencyVault

/// The write-once rules of a local vault, and what an object looks like on disk.
@Suite struct VaultStorageTests {
    static func temporaryVault() throws -> (Vault, String) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("vault-test-\(UUID().uuidString)").path
        return (Vault(region: "eu-west", storage: LocalVaultStorage(root: root), key: try VaultKey.generate()), root)
    }

    static func store(_ vault: Vault, _ name: String, _ bytes: [UInt8], retainUntil: Date, now: Date = Date()) throws(VaultError) {
        var source = MemoryStream(bytes)
        try vault.store(name, from: &source, retainUntil: retainUntil, now: now)
    }

    static func fetch(_ vault: Vault, _ name: String) throws(VaultError) -> [UInt8] {
        var sink = MemoryStream()
        try vault.fetch(name, into: &sink)
        return sink.bytes
    }

    static func kind(_ body: () throws(VaultError) -> Void) -> VaultError.Kind? {
        do {
            try body()
            return nil
        } catch {
            return error.kind
        }
    }

    @Test func anObjectIsNeverOverwritten() throws {
        let (vault, root) = try Self.temporaryVault()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let later = Date().addingTimeInterval(86_400)
        try Self.store(vault, "wal/s1/000000010000000000000001", Array("first".utf8), retainUntil: later)
        var second = MemoryStream(Array("second".utf8))
        #expect(Self.kind { () throws(VaultError) in
            try vault.store("wal/s1/000000010000000000000001", from: &second, retainUntil: later)
        } == .retained)
        #expect(try Self.fetch(vault, "wal/s1/000000010000000000000001") == Array("first".utf8))
        // Nothing is left behind in incoming/ by the refused write.
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/incoming").isEmpty)
    }

    @Test func storedObjectsAreReadOnly() throws {
        let (vault, root) = try Self.temporaryVault()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Self.store(vault, "base/s1/b1/base.tar", [1, 2, 3], retainUntil: Date().addingTimeInterval(60))
        let attributes = try FileManager.default.attributesOfItem(atPath: root + "/objects/base/s1/b1/base.tar")
        #expect((attributes[.posixPermissions] as? Int) == 0o444)
    }

    @Test func noDeleteBeforeRetainUntil() throws {
        let (vault, root) = try Self.temporaryVault()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        try Self.store(vault, "base/s1/b1/base.tar", [1, 2, 3], retainUntil: now.addingTimeInterval(3600), now: now)
        #expect(Self.kind { () throws(VaultError) in try vault.storage.delete("base/s1/b1/base.tar", now: now) } == .retained)
        #expect(Self.kind { () throws(VaultError) in
            try vault.storage.delete("base/s1/b1/base.tar", now: now.addingTimeInterval(3599))
        } == .retained)
        #expect(vault.storage.exists("base/s1/b1/base.tar"))
        try vault.storage.delete("base/s1/b1/base.tar", now: now.addingTimeInterval(3600))
        #expect(!vault.storage.exists("base/s1/b1/base.tar"))
        #expect(Self.kind { () throws(VaultError) in _ = try Self.fetch(vault, "base/s1/b1/base.tar") } == .notFound)
    }

    @Test func purgeDeletesOnlyWhatExpired() throws {
        let (vault, root) = try Self.temporaryVault()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let now = Date()
        try Self.store(vault, "wal/s1/a", [1], retainUntil: now.addingTimeInterval(-1), now: now.addingTimeInterval(-100))
        try Self.store(vault, "wal/s1/b", [2], retainUntil: now.addingTimeInterval(86_400), now: now)
        try Self.store(vault, "wal/s2/c", [3], retainUntil: now.addingTimeInterval(-1), now: now.addingTimeInterval(-100))
        let result = try vault.purge(prefix: "wal/s1/", now: now)
        #expect(result.deleted == ["wal/s1/a"])
        #expect(result.kept == 1)
        #expect(try vault.storage.list(prefix: "").map(\.name) == ["wal/s1/b", "wal/s2/c"])
    }

    /// A header whose retain-until was edited on disk does not authenticate, so purge stops
    /// on it instead of deleting early.
    @Test func purgeRefusesAnEditedRetainUntil() throws {
        let (vault, root) = try Self.temporaryVault()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let now = Date()
        let until = Int64(now.addingTimeInterval(86_400).timeIntervalSince1970.rounded(.up))
        try Self.store(vault, "wal/s1/a", [1, 2, 3], retainUntil: now.addingTimeInterval(86_400), now: now)
        let path = root + "/objects/wal/s1/a"
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let old = Array("\"retain_until\":\(until)".utf8)
        let new = Array("\"retain_until\":\(until - 86_400 - 10)".utf8)
        let at = try #require((0...(bytes.count - old.count)).first { Array(bytes[$0..<$0 + old.count]) == old })
        #expect(old.count == new.count)
        bytes.replaceSubrange(at..<at + old.count, with: new)
        chmod(path, 0o644)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(Self.kind { () throws(VaultError) in _ = try vault.purge(now: now) } == .corrupt)
        #expect(vault.storage.exists("wal/s1/a"))
    }

    /// What a killed writer left in incoming/ goes with the next purge; a live writer's stays.
    @Test func purgeSweepsTheWritesOfDeadWritersOnly() throws {
        let (vault, root) = try Self.temporaryVault()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Self.store(vault, "wal/s1/a", [1], retainUntil: Date().addingTimeInterval(60))
        // A pid that cannot be alive (above pid_max) and our own.
        let dead = root + "/incoming/4194305-1.tmp"
        let live = root + "/incoming/\(getpid())-2.tmp"
        for path in [dead, live] { #expect(FileManager.default.createFile(atPath: path, contents: Data([1, 2, 3]))) }
        _ = try vault.purge()
        #expect(!FileManager.default.fileExists(atPath: dead))
        #expect(FileManager.default.fileExists(atPath: live))
        #expect(vault.storage.exists("wal/s1/a"))
    }

    @Test(arguments: ["../escape", "/absolute", "a//b", "wal/.hidden", "", "a b", "wal/s1/"])
    func badNamesAreRefused(name: String) throws {
        let (vault, root) = try Self.temporaryVault()
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(Self.kind { () throws(VaultError) in
            try Self.store(vault, name, [1], retainUntil: Date())
        } == .invalidInput)
    }

    /// Writes objects full of a marker the test chose, then reads every byte under the vault's
    /// root: the marker appears nowhere (compressed and encrypted, and no plaintext left in
    /// incoming/).
    @Test func noPlaintextOnDisk() throws {
        let (vault, root) = try Self.temporaryVault()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let marker = Array("residency-plaintext-marker-\(UUID().uuidString)".utf8)
        var random = SystemRandomNumberGenerator()
        for index in 0..<4 {
            var plain: [UInt8] = []
            while plain.count < (index + 1) * 300_000 {
                plain += marker
                plain += (0..<Int.random(in: 0...64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            }
            try Self.store(vault, "base/s\(index)/b1/base.tar", plain, retainUntil: Date().addingTimeInterval(60))
            #expect(try Self.fetch(vault, "base/s\(index)/b1/base.tar") == plain)
        }
        var scanned = 0
        let enumerator = try #require(FileManager.default.enumerator(atPath: root))
        while let relative = enumerator.nextObject() as? String {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: root + "/" + relative)))
            scanned += 1
            let probe = Array(marker.prefix(16))
            let hit = bytes.count >= probe.count && (0...(bytes.count - probe.count)).contains { bytes[$0] == probe[0] && Array(bytes[$0..<$0 + probe.count]) == probe }
            #expect(!hit, "the plaintext marker is readable in \(relative)")
        }
        #expect(scanned == 4)
    }
}
