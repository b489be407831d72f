import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Files only their owner may read (passfiles): created with mode 0600 from the first byte
/// (a temporary file opened `O_EXCL` with that mode, then renamed over the target), so no
/// other user can open them even for an instant.
enum PrivateFile {
    static func write(_ text: String, to path: String) throws(RuntimeError) {
        let temporary = path + ".tmp-\(getpid())"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw RuntimeError(.unavailable, "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw RuntimeError(.unavailable, "cannot write \(path): \(reason)")
        }
    }

    /// The passwords of a libpq password file (`host:port:database:user:password` lines),
    /// by user; `nil` when it cannot be read.
    static func passwords(inPassfile path: String) -> [String: String]? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        var passwords: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 4, omittingEmptySubsequences: false)
            if fields.count == 5 { passwords[String(fields[3])] = String(fields[4]) }
        }
        return passwords
    }

    /// Creates `directory` (mode 0700) when it is missing.
    static func makeDirectory(_ directory: String) throws(RuntimeError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw RuntimeError(.unavailable, "cannot create \(directory): \(error.localizedDescription)")
        }
    }
}
