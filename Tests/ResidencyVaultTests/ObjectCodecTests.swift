import Foundation
import Testing
@testable import ResidencyVault

/// The sealed object format: a round trip gives back every byte; a changed byte anywhere, a
/// wrong key, a truncated or extended object are each refused, and refused as what they are.
@Suite struct ObjectCodecTests {
    static func header(_ key: VaultKey, name: String = "base/s1/b1/base.tar") -> ObjectHeader {
        ObjectHeader(name: name, region: "eu-west", keyID: key.id, createdAt: 1_700_000_000, retainUntil: 1_702_592_000)
    }

    /// Compressible and incompressible bytes, across several frames.
    static func plaintext(_ count: Int) -> [UInt8] {
        var random = SystemRandomNumberGenerator()
        return (0..<count).map { index in index % 3 == 0 ? UInt8.random(in: 0...255, using: &random) : UInt8(index % 7) }
    }

    static func seal(_ plain: [UInt8], key: VaultKey, name: String = "base/s1/b1/base.tar") throws -> (bytes: [UInt8], summary: ObjectCodec.Summary) {
        var source = MemoryStream(plain)
        var sink = MemoryStream()
        let summary = try ObjectCodec.seal(&source, into: &sink, header: header(key, name: name), key: key)
        return (sink.bytes, summary)
    }

    static func open(_ sealed: [UInt8], key: VaultKey, expectedName: String? = nil) throws(VaultError) -> [UInt8] {
        var source = MemoryStream(sealed)
        var sink = MemoryStream()
        _ = try ObjectCodec.open(&source, into: &sink, key: key, expectedName: expectedName)
        return sink.bytes
    }

    static func refusal(_ sealed: [UInt8], key: VaultKey) -> VaultError? {
        do {
            _ = try open(sealed, key: key)
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [0, 1, 4096, 3 * (1 << 20) + 17])
    func roundTrip(size: Int) throws {
        let key = try VaultKey.generate()
        let plain = Self.plaintext(size)
        let (sealed, summary) = try Self.seal(plain, key: key)
        #expect(try Self.open(sealed, key: key) == plain)
        #expect(summary.plainBytes == Int64(size))
        #expect(summary.storedBytes == Int64(sealed.count))
        #expect(summary.storedSHA256 == VaultKey.hex(Crypto.sha256(sealed)))
    }

    /// Highly compressible content whose size is a multiple of the decompression buffer (a
    /// 16 MiB WAL segment of zeros): the decompressor is called once more after the frame
    /// ended, which must not read as a frame cut short.
    @Test(arguments: [4 << 20, 16 << 20])
    func roundTripOfZeros(size: Int) throws {
        let key = try VaultKey.generate()
        var plain = [UInt8](repeating: 0, count: size)
        plain[0] = 0xD1
        plain[size / 3] = 7
        let (sealed, _) = try Self.seal(plain, key: key)
        #expect(try Self.open(sealed, key: key) == plain)
    }

    @Test func compressesBeforeEncrypting() throws {
        let key = try VaultKey.generate()
        let plain = [UInt8](repeating: 42, count: 4 << 20)
        let (sealed, _) = try Self.seal(plain, key: key)
        #expect(sealed.count < 4096, "4 MiB of one byte value must compress: encrypting first would keep it at 4 MiB")
    }

    /// Every byte of a small object, and a sample of a multi-frame one, flipped in turn:
    /// each flip is refused as corrupt (never as a wrong key, never accepted).
    @Test func everyChangedByteIsRefused() throws {
        let key = try VaultKey.generate()
        let (small, _) = try Self.seal(Self.plaintext(300), key: key)
        for index in small.indices {
            var tampered = small
            tampered[index] ^= 0x01
            let error = Self.refusal(tampered, key: key)
            #expect(error != nil, "a flip at byte \(index) of \(small.count) was accepted")
            #expect(error?.kind == .corrupt || error?.kind == .wrongKey && index < 200, "byte \(index): \(String(describing: error))")
        }
        let (large, _) = try Self.seal(Self.plaintext(2 << 20), key: key)
        for index in stride(from: large.count - 1, to: 0, by: -(large.count / 97)) {
            var tampered = large
            tampered[index] ^= 0x80
            #expect(Self.refusal(tampered, key: key)?.kind == .corrupt, "a flip at byte \(index) of \(large.count) was not refused as corrupt")
        }
    }

    @Test func wrongKeyIsRefusedAsSuch() throws {
        let key = try VaultKey.generate()
        let other = try VaultKey.generate()
        let (sealed, _) = try Self.seal(Self.plaintext(5000), key: key)
        let error = Self.refusal(sealed, key: other)
        #expect(error?.kind == .wrongKey)
        #expect(error?.message.contains(key.id) == true && error?.message.contains(other.id) == true)
    }

    /// A key with the same id (an edited header claiming the right key) still fails: the data
    /// key does not unwrap.
    @Test func forgedKeyIDDoesNotUnwrap() throws {
        let key = try VaultKey.generate()
        let other = try VaultKey.generate()
        let (sealed, _) = try Self.seal(Self.plaintext(5000), key: other)
        let text = String(decoding: sealed, as: UTF8.self)
        let forged = Array(text.replacingOccurrences(of: other.id, with: key.id).utf8)
        guard forged.count == sealed.count else { return }  // the sealed bytes did not survive as text; covered by the flips
        #expect(Self.refusal(forged, key: key)?.kind == .corrupt)
    }

    @Test func truncatedOrExtendedObjectIsRefused() throws {
        let key = try VaultKey.generate()
        let (sealed, _) = try Self.seal(Self.plaintext(3 << 20), key: key)
        for cut in [1, 16, 17, 1 << 20, sealed.count / 2, sealed.count - 12] {
            #expect(Self.refusal(Array(sealed.dropLast(cut)), key: key)?.kind == .corrupt, "cutting \(cut) bytes was not refused")
        }
        // Whole frames dropped from the end: the last frame flag is missing.
        #expect(Self.refusal(sealed + [0], key: key)?.kind == .corrupt)
        #expect(Self.refusal(sealed + sealed, key: key)?.kind == .corrupt)
    }

    @Test func objectUnderAnotherNameIsRefused() throws {
        let key = try VaultKey.generate()
        let (sealed, _) = try Self.seal(Self.plaintext(100), key: key, name: "wal/s1/000000010000000000000001")
        #expect(throws: VaultError.self) { try Self.open(sealed, key: key, expectedName: "wal/s1/000000010000000000000002") }
    }

    @Test func keyFileMustBePrivateAndWellFormed() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vault-key-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let key = try VaultKey.generate()
        try key.write(to: folder + "/k")
        #expect(try VaultKey.load(path: folder + "/k").id == key.id)
        #expect(throws: VaultError.self) { try key.write(to: folder + "/k") }
        chmod(folder + "/k", 0o644)
        #expect(throws: VaultError.self) { try VaultKey.load(path: folder + "/k") }
        try "not a key\n".write(toFile: folder + "/bad", atomically: false, encoding: .utf8)
        chmod(folder + "/bad", 0o600)
        #expect(throws: VaultError.self) { try VaultKey.load(path: folder + "/bad") }
    }
}
