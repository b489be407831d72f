import Foundation
import Testing
@testable import ResidencyVault
#if canImport(Glibc)
import Glibc
#endif

/// A program at the other end of a vault pipe that hangs does not hang the vault.
@Suite struct ChildProcessTests {
    @Test func aPipeThatStaysStillFailsAfterItsStallLimitNamingTheProgram() throws {
        let stderrPath = NSTemporaryDirectory() + "/residency-child-\(getpid()).err"
        defer { unlink(stderrPath) }
        // `sleep` writes nothing to its standard output for 30 s.
        let child = try ChildProcess(["/bin/sleep", "30"], pipe: .readStdout, stderrPath: stderrPath)
        var stream = FileDescriptorStream(fd: child.fd, name: child.program, stallSeconds: 1)
        var buffer = [UInt8](repeating: 0, count: 16)
        let began = ContinuousClock.now
        do {
            _ = try buffer.withMutableBytes { (raw) throws(VaultError) in try stream.read(into: raw) }
            Issue.record("a still pipe was read")
        } catch {
            #expect(error.description.contains("sleep moved no byte for 1 s"), "\(error)")
        }
        child.abandon()
        #expect(ContinuousClock.now - began < .seconds(20), "the stall and the abandon end in seconds, not at the child's end")
    }

    @Test func aChildThatExitsIsReapedWithItsStatus() throws {
        let stderrPath = NSTemporaryDirectory() + "/residency-child-\(getpid())-2.err"
        defer { unlink(stderrPath) }
        let child = try ChildProcess(["/bin/sh", "-c", "echo oops >&2; exit 3"], pipe: .readStdout, stderrPath: stderrPath)
        #expect(throws: VaultError.self) { try child.finish() }
        let fine = try ChildProcess(["/bin/true"], pipe: .readStdout, stderrPath: stderrPath)
        #expect(throws: Never.self) { try fine.finish() }
    }
}
