import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A region's key (the key-encryption key of envelope encryption): 32 random bytes, kept in a
/// file of 64 hex digits that only its owner may read (mode 0600 or stricter). Objects are
/// never encrypted with it directly: each object has a fresh data key, and only that data
/// key, wrapped by this one, is stored with the object. `id` names the key without revealing
/// it, so an object sealed with another key is refused as such, not as tampered.
public struct VaultKey: Sendable {
    let bytes: [UInt8]
    public let id: String

    init(bytes: [UInt8]) {
        precondition(bytes.count == Crypto.keyBytes)
        self.bytes = bytes
        id = Self.hex(Crypto.sha256(Array("residency-vault-key-id".utf8) + bytes).prefix(8))
    }

    public static func generate() throws(VaultError) -> VaultKey {
        VaultKey(bytes: try Crypto.randomBytes(Crypto.keyBytes))
    }

    /// Reads a key file; refuses one that others can read, or that is not 64 hex digits.
    public static func load(path: String) throws(VaultError) -> VaultKey {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw VaultError(.invalidInput, "key file \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw VaultError(.invalidInput, "key file \(path) has mode \(String(info.st_mode & 0o777, radix: 8)): a key file must be readable by its owner only (chmod 600 \(path))")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw VaultError(.invalidInput, "key file \(path) is unreadable")
        }
        let digits = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard digits.count == 2 * Crypto.keyBytes, let bytes = Self.bytes(hex: digits) else {
            throw VaultError(.invalidInput, "key file \(path) must hold 64 hex digits (a 256-bit key, as `openssl rand -hex 32` prints)")
        }
        return VaultKey(bytes: bytes)
    }

    /// Writes the key to a new file (mode 0600); refuses to replace an existing one.
    public func write(to path: String) throws(VaultError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            throw VaultError(.io, "cannot create key file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let text = Array((Self.hex(bytes) + "\n").utf8)
        guard Glibc.write(fd, text, text.count) == text.count, fsync(fd) == 0 else {
            throw VaultError(.io, "cannot write key file \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// A key derived from this one for one purpose (HMAC-SHA-256 of the purpose): the
    /// content digests of objects are keyed, so equal plaintexts can be recognised without
    /// storing a plain hash of them.
    func derived(_ purpose: String) -> [UInt8] {
        Array(purpose.utf8).withUnsafeBytes { Crypto.hmacSHA256(key: bytes, $0) }
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func bytes(hex: String) -> [UInt8]? {
        let utf8 = Array(hex.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = value(utf8[index]), let low = value(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}
