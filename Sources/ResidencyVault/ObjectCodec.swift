import CZstd
import Foundation

/// What an object says about itself in clear text. All of it is authenticated (it is the
/// additional data of the wrapped data key and, through its hash, of every frame), so an
/// edited header — a shortened retain-until, a renamed object — fails to open.
public struct ObjectHeader: Codable, Sendable, Equatable {
    public var format = 1
    /// The object's name in its vault (`wal/<shard>/<segment>`, `base/<shard>/<id>/base.tar`).
    public var name: String
    public var region: String
    /// The region key that wraps the data key (`VaultKey.id`).
    public var keyID: String
    /// Unix seconds.
    public var createdAt: Int64
    /// Unix seconds: no command deletes or replaces the object before this.
    public var retainUntil: Int64
    /// HMAC-SHA-256 of the plaintext under a key derived from the region key, when the
    /// plaintext was known before sealing (WAL segments): how a second push of the same
    /// segment is told from a different one.
    public var contentMAC: String?

    enum CodingKeys: String, CodingKey {
        case format, name, region, keyID = "key_id", createdAt = "created_at", retainUntil = "retain_until", contentMAC = "content_mac"
    }

    public init(name: String, region: String, keyID: String, createdAt: Int64, retainUntil: Int64, contentMAC: String? = nil) {
        self.name = name
        self.region = region
        self.keyID = keyID
        self.createdAt = createdAt
        self.retainUntil = retainUntil
        self.contentMAC = contentMAC
    }
}

/// The sealed form of a vault object: compressed with zstd, then encrypted with AES-256-GCM
/// under a fresh data key that is stored wrapped by the region key (envelope encryption).
///
///     "RSDVLT01"                      magic
///     u32 n, n bytes                  the header, JSON (ObjectHeader)
///     60 bytes                        the data key: nonce(12) + AES-256-GCM(region key) + tag(16),
///                                     additional data = magic + header
///     frames: u32 m, m bytes, tag(16) ciphertext of up to 1 MiB of compressed bytes; the top bit
///                                     of m marks the last frame. Nonce = frame number; additional
///                                     data = SHA-256(magic + header) + frame number + last flag
///
/// A frame is released only once its tag checks, the last frame must carry the last flag
/// (a truncated object is refused), and nothing may follow it (an extended one too). A fresh
/// key per object is what makes counter nonces safe.
public enum ObjectCodec {
    static let magic = Array("RSDVLT01".utf8)
    static let frameBytes = 1 << 20
    static let wrappedKeyBytes = Crypto.nonceBytes + Crypto.keyBytes + Crypto.tagBytes
    static let lastFrameFlag: UInt32 = 1 << 31
    static let readBytes = 1 << 20

    /// What sealing an object measured.
    public struct Summary: Sendable, Equatable {
        public var plainBytes: Int64
        public var storedBytes: Int64
        /// SHA-256 of the stored (sealed) bytes, hex: what a manifest records.
        public var storedSHA256: String
    }

    /// Compresses and encrypts everything `source` holds into `sink`.
    public static func seal(
        _ source: inout some ByteSource, into sink: inout some ByteSink, header: ObjectHeader, key: VaultKey, level: Int32 = 1
    ) throws(VaultError) -> Summary {
        precondition(header.keyID == key.id)
        let headerBytes = try encodeHeader(header)
        let prefix = magic + u32(UInt32(headerBytes.count)) + headerBytes
        let dataKey = try Crypto.randomBytes(Crypto.keyBytes)
        let wrapNonce = try Crypto.randomBytes(Crypto.nonceBytes)
        let wrapper = try AESGCM(key: key.bytes, encrypting: true)
        var wrappedKey = [UInt8](repeating: 0, count: Crypto.keyBytes)
        let wrapTag = try dataKey.withBytes { plain throws(VaultError) in
            try wrappedKey.withMutableBytes { out throws(VaultError) in
                try wrapper.seal(nonce: wrapNonce, aad: magic + headerBytes, plain, into: out)
            }
        }
        let writer = FrameWriter(
            sink: sink, cipher: try AESGCM(key: dataKey, encrypting: true), headerHash: Crypto.sha256(magic + headerBytes))
        try writer.emit(prefix + wrapNonce + wrappedKey + wrapTag)

        let compressor = try ZstdCompressor(level: level)
        let input = UnsafeMutableRawBufferPointer.allocate(byteCount: readBytes, alignment: 16)
        defer { input.deallocate() }
        var plainBytes: Int64 = 0
        while true {
            let count = try source.read(into: input)
            plainBytes += Int64(count)
            var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: count, pos: 0)
            var done = false
            repeat {
                var outBuffer = writer.freeSpace()
                done = try compressor.compress(&inBuffer, &outBuffer, end: count == 0)
                try writer.filled(outBuffer.pos)
            } while count == 0 ? !done : inBuffer.pos < inBuffer.size
            if count == 0 { break }
        }
        try writer.finish()
        sink = writer.sink
        return Summary(plainBytes: plainBytes, storedBytes: writer.storedBytes, storedSHA256: VaultKey.hex(writer.digest.finish()))
    }

    /// Reads the header of a sealed object without opening it (it is authenticated only by
    /// `open`, or by `authenticateHeader`).
    public static func readHeader(_ source: inout some ByteSource) throws(VaultError) -> (header: ObjectHeader, bytes: [UInt8]) {
        let start = try readExactly(&source, magic.count + 4, what: "the object's header")
        guard Array(start.prefix(magic.count)) == magic else {
            throw VaultError(.corrupt, "not a residency vault object (its first bytes are not the vault's magic)")
        }
        let length = Int(readU32(start, at: magic.count))
        guard length > 0, length < 1 << 16 else { throw VaultError(.corrupt, "the object's header length \(length) is impossible") }
        let bytes = try readExactly(&source, length, what: "the object's header")
        do {
            return (try JSONDecoder().decode(ObjectHeader.self, from: Data(bytes)), bytes)
        } catch {
            throw VaultError(.corrupt, "the object's header is not readable: \(error)")
        }
    }

    /// Checks that the header is the one sealed with the object (by unwrapping its data key
    /// with the region key); returns the data key.
    public static func authenticateHeader(_ source: inout some ByteSource, key: VaultKey) throws(VaultError) -> ObjectHeader {
        try openHeader(&source, key: key).header
    }

    private static func openHeader(_ source: inout some ByteSource, key: VaultKey) throws(VaultError) -> (header: ObjectHeader, headerBytes: [UInt8], dataKey: [UInt8]) {
        let (header, headerBytes) = try readHeader(&source)
        guard header.format == 1 else { throw VaultError(.corrupt, "object format \(header.format) is not known to this version") }
        guard header.keyID == key.id else {
            throw VaultError(.wrongKey, "object \(header.name) was sealed with key \(header.keyID), and the key given is \(key.id)")
        }
        let wrapped = try readExactly(&source, wrappedKeyBytes, what: "the object's data key")
        let unwrapper = try AESGCM(key: key.bytes, encrypting: false)
        var dataKey = [UInt8](repeating: 0, count: Crypto.keyBytes)
        let opened = wrapped.withUnsafeBytes { all in
            dataKey.withUnsafeMutableBytes { out in
                unwrapper.open(
                    nonce: Array(wrapped[0..<Crypto.nonceBytes]), aad: magic + headerBytes,
                    UnsafeRawBufferPointer(rebasing: all[Crypto.nonceBytes..<(Crypto.nonceBytes + Crypto.keyBytes)]),
                    tag: Array(wrapped[(Crypto.nonceBytes + Crypto.keyBytes)...]), into: out)
            }
        }
        guard opened else {
            throw VaultError(.corrupt, "object \(header.name): its header or data key was altered (the data key does not unwrap)")
        }
        return (header, headerBytes, dataKey)
    }

    /// Authenticates, decrypts and decompresses a sealed object into `sink`. A frame reaches
    /// the decompressor only after its tag checked; on any error the caller must discard
    /// what `sink` received. `expectedName` guards against an object stored under the name of
    /// another.
    public static func open(
        _ source: inout some ByteSource, into sink: inout some ByteSink, key: VaultKey, expectedName: String? = nil
    ) throws(VaultError) -> ObjectHeader {
        let (header, headerBytes, dataKey) = try openHeader(&source, key: key)
        if let expectedName, header.name != expectedName {
            throw VaultError(.corrupt, "the object stored as \(expectedName) says it is \(header.name)")
        }
        let cipher = try AESGCM(key: dataKey, encrypting: false)
        let headerHash = Crypto.sha256(magic + headerBytes)
        let decompressor = try ZstdDecompressor()
        let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: frameBytes, alignment: 16)
        let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: frameBytes, alignment: 16)
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 * frameBytes, alignment: 16)
        defer {
            frame.deallocate()
            plain.deallocate()
            output.deallocate()
        }
        var index: UInt64 = 0
        while true {
            let lengthBytes = try readExactly(&source, 4, what: "frame \(index) of \(header.name)", truncatedIsCorrupt: true)
            let word = readU32(lengthBytes, at: 0)
            let last = word & lastFrameFlag != 0
            let length = Int(word & ~lastFrameFlag)
            guard length <= frameBytes else { throw VaultError(.corrupt, "object \(header.name): frame \(index) claims \(length) bytes") }
            let body = UnsafeMutableRawBufferPointer(rebasing: frame[0..<length])
            guard try readFully(&source, body) == length else {
                throw VaultError(.corrupt, "object \(header.name) is truncated (frame \(index) ends early)")
            }
            let tag = try readExactly(&source, Crypto.tagBytes, what: "frame \(index) of \(header.name)", truncatedIsCorrupt: true)
            let opened = cipher.open(
                nonce: frameNonce(index), aad: frameAAD(headerHash, index, last), UnsafeRawBufferPointer(body), tag: tag,
                into: UnsafeMutableRawBufferPointer(rebasing: plain[0..<length]))
            guard opened else {
                throw VaultError(.corrupt, "object \(header.name): frame \(index) does not authenticate (a byte was changed, or frames were reordered)")
            }
            var inBuffer = ZSTD_inBuffer(src: plain.baseAddress, size: length, pos: 0)
            repeat {
                var outBuffer = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
                try decompressor.decompress(&inBuffer, &outBuffer)
                if outBuffer.pos > 0 { try sink.write(UnsafeRawBufferPointer(rebasing: output[0..<outBuffer.pos])) }
                if inBuffer.pos == inBuffer.size && outBuffer.pos < outBuffer.size { break }
            } while true
            index += 1
            if last { break }
        }
        var probe = [UInt8](repeating: 0, count: 1)
        let extra = try probe.withMutableBytes { buffer throws(VaultError) in try source.read(into: buffer) }
        guard extra == 0 else { throw VaultError(.corrupt, "object \(header.name) has bytes after its last frame") }
        guard decompressor.atFrameEnd else { throw VaultError(.corrupt, "object \(header.name): its compressed content ends mid-frame") }
        return header
    }

    // MARK: - helpers

    static func encodeHeader(_ header: ObjectHeader) throws(VaultError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do { return Array(try encoder.encode(header)) } catch { throw VaultError(.io, "cannot encode an object header: \(error)") }
    }

    static func frameNonce(_ index: UInt64) -> [UInt8] {
        [0, 0, 0, 0] + (0..<8).map { UInt8(truncatingIfNeeded: index >> (56 - 8 * $0)) }
    }

    static func frameAAD(_ headerHash: [UInt8], _ index: UInt64, _ last: Bool) -> [UInt8] {
        headerHash + frameNonce(index) + [last ? 1 : 0]
    }

    static func u32(_ value: UInt32) -> [UInt8] {
        (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) }
    }

    static func readU32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 << 8 | UInt32(bytes[offset + $1]) }
    }

    static func readFully(_ source: inout some ByteSource, _ buffer: UnsafeMutableRawBufferPointer) throws(VaultError) -> Int {
        var filled = 0
        while filled < buffer.count {
            let count = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if count == 0 { break }
            filled += count
        }
        return filled
    }

    static func readExactly(_ source: inout some ByteSource, _ count: Int, what: String, truncatedIsCorrupt: Bool = true) throws(VaultError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let got = try bytes.withMutableBytes { buffer throws(VaultError) in try readFully(&source, buffer) }
        guard got == count else { throw VaultError(.corrupt, "the object is truncated (it ends inside \(what))") }
        return bytes
    }
}

/// Cuts compressed bytes into frames, seals each, and writes them; hashes what it writes.
private final class FrameWriter<Sink: ByteSink> {
    var sink: Sink
    let cipher: AESGCM
    let headerHash: [UInt8]
    let digest = SHA256Stream()
    var storedBytes: Int64 = 0
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ObjectCodec.frameBytes, alignment: 16)
    private let sealed = UnsafeMutableRawBufferPointer.allocate(byteCount: ObjectCodec.frameBytes, alignment: 16)
    private var used = 0
    private var index: UInt64 = 0

    init(sink: Sink, cipher: AESGCM, headerHash: [UInt8]) {
        self.sink = sink
        self.cipher = cipher
        self.headerHash = headerHash
    }

    deinit {
        buffer.deallocate()
        sealed.deallocate()
    }

    /// The unused end of the current frame, as a zstd output buffer.
    func freeSpace() -> ZSTD_outBuffer {
        ZSTD_outBuffer(dst: buffer.baseAddress! + used, size: buffer.count - used, pos: 0)
    }

    func filled(_ count: Int) throws(VaultError) {
        used += count
        if used == buffer.count { try seal(last: false) }
    }

    func finish() throws(VaultError) { try seal(last: true) }

    func emit(_ bytes: [UInt8]) throws(VaultError) {
        try bytes.withBytes { raw throws(VaultError) in
            digest.update(raw)
            try sink.write(raw)
        }
        storedBytes += Int64(bytes.count)
    }

    private func seal(last: Bool) throws(VaultError) {
        let length = UInt32(used) | (last ? ObjectCodec.lastFrameFlag : 0)
        try emit(ObjectCodec.u32(length))
        let tag = try cipher.seal(
            nonce: ObjectCodec.frameNonce(index), aad: ObjectCodec.frameAAD(headerHash, index, last),
            UnsafeRawBufferPointer(rebasing: buffer[0..<used]), into: sealed)
        let body = UnsafeRawBufferPointer(rebasing: sealed[0..<used])
        digest.update(body)
        try sink.write(body)
        storedBytes += Int64(used)
        try emit(tag)
        used = 0
        index += 1
    }
}
