import Foundation

/// One region's vault: its storage and its key. Every object is sealed (`ObjectCodec`) on
/// the way in and authenticated on the way out; retention is written into each object when
/// it is stored and enforced by the storage.
public struct Vault: Sendable {
    public let region: String
    public let storage: any VaultStorage
    public let key: VaultKey

    public init(region: String, storage: any VaultStorage, key: VaultKey) {
        self.region = region
        self.storage = storage
        self.key = key
    }

    public static let defaultRetentionDays = 30

    /// Seals everything `source` holds as a new object `name`, kept until `retainUntil`.
    @discardableResult
    public func store(
        _ name: String, from source: inout some ByteSource, retainUntil: Date, contentMAC: String? = nil, now: Date = Date()
    ) throws(VaultError) -> ObjectCodec.Summary {
        let header = ObjectHeader(
            name: name, region: region, keyID: key.id, createdAt: Int64(now.timeIntervalSince1970),
            retainUntil: Int64(retainUntil.timeIntervalSince1970.rounded(.up)), contentMAC: contentMAC)
        var summary: ObjectCodec.Summary?
        try storage.put(name) { sink throws(VaultError) in
            summary = try ObjectCodec.seal(&source, into: &sink, header: header, key: key)
        }
        return summary!
    }

    /// Opens object `name` into `sink`: authenticated, decrypted, decompressed.
    @discardableResult
    public func fetch(_ name: String, into sink: inout some ByteSink) throws(VaultError) -> ObjectHeader {
        try storage.get(name) { stream throws(VaultError) in try ObjectCodec.open(&stream, into: &sink, key: key, expectedName: name) }
    }

    /// The authenticated header of an object (its data key unwraps under this region's key).
    public func header(_ name: String) throws(VaultError) -> ObjectHeader {
        try storage.get(name) { stream throws(VaultError) in try ObjectCodec.authenticateHeader(&stream, key: key) }
    }

    /// Checks every frame of an object without keeping its content; returns its header and
    /// the SHA-256 of its stored bytes.
    public func verify(_ name: String) throws(VaultError) -> (header: ObjectHeader, storedSHA256: String, plainBytes: Int64) {
        var counter = CountingSink()
        let header = try fetch(name, into: &counter)
        let hash = try storage.get(name) { stream throws(VaultError) in try Self.sha256(&stream) }
        return (header, hash, counter.bytes)
    }

    /// The keyed digest recorded in headers (`ObjectHeader.contentMAC`).
    public func contentMAC(_ plaintext: UnsafeRawBufferPointer) -> String {
        VaultKey.hex(Crypto.hmacSHA256(key: key.derived("residency-vault-content-mac"), plaintext))
    }

    /// Deletes every object under `prefix` whose retain-until has passed (after checking
    /// that its header is authentic, so an edited retain-until deletes nothing), and what
    /// writers that died left half-written; returns the deleted names and what it kept.
    public func purge(prefix: String = "", now: Date = Date()) throws(VaultError) -> (deleted: [String], kept: Int) {
        _ = storage.sweepAbandonedWrites()
        var deleted: [String] = []
        var kept = 0
        for (name, _) in try storage.list(prefix: prefix) {
            let header = try header(name)
            guard header.retainUntil <= Int64(now.timeIntervalSince1970) else {
                kept += 1
                continue
            }
            try storage.delete(name, now: now)
            deleted.append(name)
        }
        return (deleted, kept)
    }

    static func sha256(_ source: inout some ByteSource) throws(VaultError) -> String {
        let digest = SHA256Stream()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = try source.read(into: buffer)
            if count == 0 { break }
            digest.update(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
        return VaultKey.hex(digest.finish())
    }
}

/// A sink that only counts.
struct CountingSink: ByteSink {
    var bytes: Int64 = 0
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws(VaultError) { self.bytes += Int64(bytes.count) }
}
