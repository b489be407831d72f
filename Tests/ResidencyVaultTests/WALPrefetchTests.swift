import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import ResidencyVault

/// Recovery's read-ahead and the sparse segments it writes: whatever is read ahead is the same
/// bytes as a direct fetch, a prefetcher ends by itself, and recovery that goes elsewhere is
/// served directly.
@Suite struct WALPrefetchTests {
    /// A data directory in recovery with an archive of `count` segments after
    /// 000000010000000000000010 (mostly zeros, as a switched segment is), and its prefetch.
    struct Fixture {
        let root: String
        let archive: WALArchive
        let prefetch: WALPrefetch
        let segments: [String]
        let contents: [String: [UInt8]]

        init(count: Int, window: Int = 3) throws {
            let (vault, vaultRoot) = try VaultStorageTests.temporaryVault()
            root = vaultRoot + "-data"
            try FileManager.default.createDirectory(atPath: root + "/pg_wal", withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: root + "/recovery.signal", contents: Data())
            archive = WALArchive(vault: vault, shard: "s1", systemIdentifier: "42", retainDays: 1)
            var names: [String] = []
            var name = "000000010000000000000010"
            var contents: [String: [UInt8]] = [:]
            for index in 0..<count {
                name = WALPrefetch.next(after: name)!
                var bytes = [UInt8](repeating: 0, count: 256 * 1024)
                for offset in stride(from: index * 512, to: index * 512 + 300, by: 1) { bytes[offset] = UInt8(truncatingIfNeeded: offset &+ index) }
                let path = root + "/" + name
                _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
                _ = try archive.push(path: path)
                unlink(path)
                names.append(name)
                contents[name] = bytes
            }
            segments = names
            self.contents = contents
            prefetch = WALPrefetch(archive: archive, destination: root + "/pg_wal/RECOVERYXLOG", window: window)
        }

        func read(_ path: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path) ?? Data()) }
        func destroy() {
            try? FileManager.default.removeItem(atPath: root)
            try? FileManager.default.removeItem(atPath: String(root.dropLast("-data".count)))
        }
    }

    @Test func segmentNamesFollowEachOtherAcrossALog() {
        #expect(WALPrefetch.next(after: "0000000200000000000000FE") == "0000000200000000000000FF")
        #expect(WALPrefetch.next(after: "0000000200000000000000FF") == "000000020000000100000000")
        #expect(WALPrefetch.next(after: "00000002.history") == nil)
        #expect(!WALPrefetch.isSegment("000000010000000000000001.partial"))
    }

    @Test func aSparseSegmentReadsBackByteForByteAndLeavesItsZerosUnwritten() throws {
        let path = NSTemporaryDirectory() + "/residency-sparse-\(getpid())"
        defer { unlink(path) }
        var bytes = [UInt8](repeating: 0, count: 16 * 1024 * 1024)
        bytes[5] = 1
        bytes[8 * 1024 * 1024 + 4095] = 2
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var sink = SparseFileSink(fd: fd, name: path)
        // In uneven pieces, as frames arrive.
        var start = 0
        for size in [1_000, 70_000, 3 * 1024 * 1024, bytes.count] where start < bytes.count {
            let end = min(bytes.count, start + size)
            try Array(bytes[start..<end]).withBytes { raw throws(VaultError) in try sink.write(raw) }
            start = end
        }
        try sink.finish()
        fsync(fd)
        var info = stat()
        fstat(fd, &info)
        close(fd)
        #expect([UInt8](FileManager.default.contents(atPath: path)!) == bytes)
        #expect(info.st_size == Int64(bytes.count))
        #expect(Int(info.st_blocks) * 512 < 1024 * 1024, "\(info.st_blocks) blocks allocated for two non-zero bytes")
    }

    @Test func thePrefetcherReadsAheadTheSameBytesAndTheFetchTakesThemFromItsFolder() throws {
        let fixture = try Fixture(count: 6, window: 3)
        defer { fixture.destroy() }
        let first = fixture.segments[0]
        let destination = fixture.root + "/pg_wal/RECOVERYXLOG"
        #expect(try fixture.prefetch.fetch(file: first, to: destination), "no prefetcher runs: start one")
        #expect(fixture.read(destination) == fixture.contents[first])
        // A prefetcher with a window of 3 ends once nothing is taken for its idle limit; run it
        // on a thread and take segments as recovery would.
        let prefetch = fixture.prefetch
        let thread = Thread { prefetch.run(after: first) }
        thread.start()
        for name in fixture.segments.dropFirst() {
            #expect(eventuallyTrue { FileManager.default.fileExists(atPath: prefetch.directory + "/" + name) }, "\(name) was not read ahead")
            let ready = try FileManager.default.contentsOfDirectory(atPath: prefetch.directory).filter { $0.utf8.count == 24 }
            #expect(ready.count <= 3, "the window holds at most 3: \(ready)")
            unlink(destination)
            _ = try prefetch.fetch(file: name, to: destination)
            #expect(fixture.read(destination) == fixture.contents[name], "\(name) differs from the archive's")
        }
        // The end of the archive ends the prefetcher.
        #expect(eventuallyTrue { prefetch.prefetcherPID() == nil })
    }

    @Test func aFetchOfSomethingElseStopsTheReadAheadAndIsServedDirectly() throws {
        let fixture = try Fixture(count: 4, window: 2)
        defer { fixture.destroy() }
        let prefetch = fixture.prefetch
        mkdir(prefetch.directory, 0o700)
        // Recovery asks for a segment the folder does not hold: it is fetched from the archive,
        // and what the folder held (read ahead for another path) is dropped.
        _ = FileManager.default.createFile(atPath: prefetch.directory + "/" + fixture.segments[3], contents: Data([1, 2, 3]))
        let destination = fixture.root + "/pg_wal/RECOVERYXLOG"
        #expect(try prefetch.fetch(file: fixture.segments[1], to: destination))
        #expect(fixture.read(destination) == fixture.contents[fixture.segments[1]])
        #expect(!FileManager.default.fileExists(atPath: prefetch.directory + "/" + fixture.segments[3]), "a miss drops what the folder held")
        // Missing from the archive: not found, as PostgreSQL needs it.
        #expect(throws: VaultError.self) { try prefetch.fetch(file: "000000010000000000000099", to: destination) }
        // Recovery over (recovery.signal gone): a prefetcher ends at once.
        unlink(fixture.root + "/recovery.signal")
        prefetch.run(after: fixture.segments[0])
        #expect(!FileManager.default.fileExists(atPath: prefetch.directory + "/" + fixture.segments[1]))
    }

    func eventuallyTrue(_ seconds: Double = 10, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(5_000)
        }
        return condition()
    }
}
