import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where an object's bytes come from: a file, a pipe from `pg_basebackup`, memory.
public protocol ByteSource {
    /// Fills the start of `buffer`; 0 at the end.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(VaultError) -> Int
}

/// Where an object's bytes go.
public protocol ByteSink {
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws(VaultError)
}

/// A file descriptor the caller owns (it is not closed here).
public struct FileDescriptorStream: ByteSource, ByteSink {
    public let fd: Int32
    public let name: String

    public init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
    }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(VaultError) -> Int {
        var filled = 0
        while filled < buffer.count {
            let count = Glibc.read(fd, buffer.baseAddress! + filled, buffer.count - filled)
            if count > 0 {
                filled += count
            } else if count == 0 {
                break
            } else if errno != EINTR {
                throw VaultError(.io, "reading \(name): \(String(cString: strerror(errno)))")
            }
        }
        return filled
    }

    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws(VaultError) {
        var written = 0
        while written < bytes.count {
            let count = Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)
            if count >= 0 {
                written += count
            } else if errno != EINTR {
                throw VaultError(.io, "writing \(name): \(String(cString: strerror(errno)))")
            }
        }
    }
}

/// Bytes in memory (tests, manifests).
public struct MemoryStream: ByteSource, ByteSink {
    public private(set) var bytes: [UInt8]
    private var position = 0

    public init(_ bytes: [UInt8] = []) { self.bytes = bytes }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(VaultError) -> Int {
        let count = min(buffer.count, bytes.count - position)
        guard count > 0 else { return 0 }
        bytes.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + position, byteCount: count)
        }
        position += count
        return count
    }

    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws(VaultError) {
        self.bytes.append(contentsOf: bytes)
    }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` for a body with typed throws (the standard one rethrows `any Error`).
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws(VaultError) -> R) throws(VaultError) -> R {
        let result: Result<R, VaultError> = withUnsafeBytes { raw in Result { () throws(VaultError) -> R in try body(raw) } }
        return try result.get()
    }

    mutating func withMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws(VaultError) -> R) throws(VaultError) -> R {
        let result: Result<R, VaultError> = withUnsafeMutableBytes { raw in Result { () throws(VaultError) -> R in try body(raw) } }
        return try result.get()
    }
}
