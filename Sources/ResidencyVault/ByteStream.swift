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

/// A file descriptor the caller owns (it is not closed here). With `stallSeconds`, a read or
/// write that waits that long without moving a byte fails (a program at the other end of a
/// pipe that hangs must not hang the vault).
public struct FileDescriptorStream: ByteSource, ByteSink {
    public let fd: Int32
    public let name: String
    public let stallSeconds: Int?

    public init(fd: Int32, name: String, stallSeconds: Int? = nil) {
        self.fd = fd
        self.name = name
        self.stallSeconds = stallSeconds
    }

    /// Waits until `fd` is ready for `events`, `stallSeconds` at most.
    private func waitReady(_ events: Int16) throws(VaultError) {
        guard let stallSeconds else { return }
        var descriptor = pollfd(fd: fd, events: events, revents: 0)
        while true {
            let ready = poll(&descriptor, 1, Int32(stallSeconds * 1000))
            if ready > 0 { return }
            if ready == 0 { throw VaultError(.io, "\(name) moved no byte for \(stallSeconds) s: stopped") }
            if errno != EINTR { throw VaultError(.io, "waiting for \(name): \(String(cString: strerror(errno)))") }
        }
    }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(VaultError) -> Int {
        var filled = 0
        while filled < buffer.count {
            try waitReady(Int16(POLLIN))
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
            try waitReady(Int16(POLLOUT))
            let count = Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)
            if count >= 0 {
                written += count
            } else if errno != EINTR {
                throw VaultError(.io, "writing \(name): \(String(cString: strerror(errno)))")
            }
        }
    }
}

/// A new file written with holes where whole blocks are zero (a WAL segment closed early by a
/// switch is mostly zeros): reads give back every byte, and flushing it costs only what is
/// not zero. `finish` sets the file's length.
public struct SparseFileSink: ByteSink {
    public let fd: Int32
    public let name: String
    public private(set) var length: Int64 = 0
    static let block = 4096

    public init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
    }

    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws(VaultError) {
        var start = 0
        while start < bytes.count {
            let end = min(start + Self.block, bytes.count)
            let chunk = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
            if !Self.isZero(chunk) {
                var written = 0
                while written < chunk.count {
                    let count = pwrite(fd, chunk.baseAddress! + written, chunk.count - written, off_t(length) + off_t(start + written))
                    if count >= 0 {
                        written += count
                    } else if errno != EINTR {
                        throw VaultError(.io, "writing \(name): \(String(cString: strerror(errno)))")
                    }
                }
            }
            start = end
        }
        length += Int64(bytes.count)
    }

    /// Sets the file's length (the trailing zeros that were skipped).
    public func finish() throws(VaultError) {
        guard ftruncate(fd, off_t(length)) == 0 else { throw VaultError(.io, "cannot set the length of \(name): \(String(cString: strerror(errno)))") }
    }

    static func isZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let words = bytes.count / 8
        for index in 0..<words where bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self) != 0 { return false }
        for index in (words * 8)..<bytes.count where bytes[index] != 0 { return false }
        return true
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
