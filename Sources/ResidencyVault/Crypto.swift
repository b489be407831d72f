import COpenSSL

/// The few primitives of OpenSSL's libcrypto the vault uses: random bytes, SHA-256,
/// HMAC-SHA-256 and AES-256-GCM (through EVP, which picks AES-NI and CLMUL when the CPU has
/// them). Nothing here chooses keys or nonces; `ObjectCodec` does.
enum Crypto {
    static let keyBytes = 32
    static let nonceBytes = 12
    static let tagBytes = 16

    static func randomBytes(_ count: Int) throws(VaultError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        guard RAND_bytes(&bytes, Int32(count)) == 1 else {
            throw VaultError(.io, "OpenSSL could not produce random bytes: \(lastError())")
        }
        return bytes
    }

    static func sha256(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        let digest = SHA256Stream()
        digest.update(bytes)
        return digest.finish()
    }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { sha256($0) }
    }

    static func hmacSHA256(key: [UInt8], _ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        _ = key.withUnsafeBytes { keyBuffer in
            HMAC(EVP_sha256(), keyBuffer.baseAddress, Int32(key.count), bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, &out, &length)
        }
        return out
    }

    /// The most recent OpenSSL error of this thread, as text.
    static func lastError() -> String {
        let code = ERR_get_error()
        guard code != 0 else { return "no OpenSSL error recorded" }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Streaming SHA-256.
final class SHA256Stream {
    private let context: OpaquePointer

    init() {
        context = EVP_MD_CTX_new()
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    func update(_ bytes: UnsafeRawBufferPointer) {
        if !bytes.isEmpty { EVP_DigestUpdate(context, bytes.baseAddress, bytes.count) }
    }

    func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &out, &length)
        return out
    }
}

/// AES-256-GCM with one key and a fresh nonce per message. `seal` and `open` each handle one
/// whole message (a frame of an object, or a wrapped key); the context is reused between
/// messages so the key schedule is computed once.
final class AESGCM {
    private let context: OpaquePointer
    private let encrypting: Bool

    init(key: [UInt8], encrypting: Bool) throws(VaultError) {
        precondition(key.count == Crypto.keyBytes)
        guard let context = EVP_CIPHER_CTX_new() else { throw VaultError(.io, "OpenSSL: no cipher context") }
        self.context = context
        self.encrypting = encrypting
        let ok = encrypting
            ? EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nil, key, nil)
            : EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), nil, key, nil)
        guard ok == 1 else { throw VaultError(.io, "OpenSSL: AES-256-GCM unavailable: \(Crypto.lastError())") }
    }

    deinit { EVP_CIPHER_CTX_free(context) }

    // EVP_CTRL_GCM_GET_TAG / EVP_CTRL_GCM_SET_TAG (openssl/evp.h), macros of macros.
    private static let getTag: Int32 = 0x10
    private static let setTag: Int32 = 0x11

    /// Encrypts `plaintext` into `output` (same length) and returns the tag.
    func seal(nonce: [UInt8], aad: [UInt8], _ plaintext: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws(VaultError) -> [UInt8] {
        precondition(encrypting && output.count >= plaintext.count && nonce.count == Crypto.nonceBytes)
        var length: Int32 = 0
        var ok = EVP_EncryptInit_ex(context, nil, nil, nil, nonce)
        ok &= aad.isEmpty ? 1 : EVP_EncryptUpdate(context, nil, &length, aad, Int32(aad.count))
        if !plaintext.isEmpty {
            ok &= EVP_EncryptUpdate(
                context, output.baseAddress!.assumingMemoryBound(to: UInt8.self), &length,
                plaintext.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(plaintext.count))
        }
        var tail = [UInt8](repeating: 0, count: 16)
        ok &= EVP_EncryptFinal_ex(context, &tail, &length)
        var tag = [UInt8](repeating: 0, count: Crypto.tagBytes)
        ok &= EVP_CIPHER_CTX_ctrl(context, Self.getTag, Int32(Crypto.tagBytes), &tag)
        guard ok == 1 else { throw VaultError(.io, "OpenSSL: AES-256-GCM encryption failed: \(Crypto.lastError())") }
        return tag
    }

    /// Decrypts `ciphertext` into `output`; false when the tag does not match (nothing in
    /// `output` may then be used).
    func open(nonce: [UInt8], aad: [UInt8], _ ciphertext: UnsafeRawBufferPointer, tag: [UInt8], into output: UnsafeMutableRawBufferPointer) -> Bool {
        precondition(!encrypting && output.count >= ciphertext.count && nonce.count == Crypto.nonceBytes && tag.count == Crypto.tagBytes)
        var length: Int32 = 0
        var ok = EVP_DecryptInit_ex(context, nil, nil, nil, nonce)
        ok &= aad.isEmpty ? 1 : EVP_DecryptUpdate(context, nil, &length, aad, Int32(aad.count))
        if !ciphertext.isEmpty {
            ok &= EVP_DecryptUpdate(
                context, output.baseAddress!.assumingMemoryBound(to: UInt8.self), &length,
                ciphertext.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(ciphertext.count))
        }
        var expected = tag
        ok &= EVP_CIPHER_CTX_ctrl(context, Self.setTag, Int32(Crypto.tagBytes), &expected)
        var tail = [UInt8](repeating: 0, count: 16)
        ok &= EVP_DecryptFinal_ex(context, &tail, &length)
        ERR_clear_error()
        return ok == 1
    }
}
