import Foundation
import ResidencyPostgres
#if canImport(Glibc)
import Glibc
#endif

/// A program whose standard output the vault reads (`pg_basebackup -D -`) or whose standard
/// input it writes (`tar -x`), with its standard error kept in a file for the message when
/// it fails. The pipe end the vault uses is a `ByteSource` / `ByteSink`.
final class ChildProcess {
    enum Pipe { case readStdout, writeStdin }

    let program: String
    let pid: pid_t
    let stderrPath: String
    private(set) var fd: Int32
    private var status: Int32?

    init(_ arguments: [String], pipe direction: Pipe, stderrPath: String) throws(VaultError) {
        program = URL(fileURLWithPath: arguments.first { $0.hasPrefix("/") && !$0.hasSuffix("runuser") } ?? arguments[0]).lastPathComponent
        self.stderrPath = stderrPath
        var fds: [Int32] = [-1, -1]
        guard Glibc.pipe(&fds) == 0 else { throw VaultError(.io, "pipe: \(String(cString: strerror(errno)))") }
        for end in fds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        switch direction {
        case .readStdout:
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        case .writeStdin:
            posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var pid: pid_t = 0
        let spawned = CommandRunner.spawn(arguments, actions: &actions, pid: &pid)
        switch direction {
        case .readStdout:
            close(fds[1])
            fd = fds[0]
        case .writeStdin:
            close(fds[0])
            fd = fds[1]
        }
        guard spawned == 0 else {
            close(fd)
            throw VaultError(.io, "cannot start \(arguments[0]): \(String(cString: strerror(spawned)))")
        }
        self.pid = pid
    }

    deinit {
        if fd >= 0 { close(fd) }
        if status == nil {
            kill(pid, SIGKILL)
            var ignored: Int32 = 0
            waitpid(pid, &ignored, 0)
        }
    }

    /// How long the pipe may stay still (`pg_basebackup` from a standby waits for its start
    /// checkpoint and its last archived segment; `tar` for the disk) before the vault stops it.
    static let stallSeconds = 600
    /// How long a child may take to exit once its pipe is closed.
    static let exitSeconds = 120

    var stream: FileDescriptorStream { FileDescriptorStream(fd: fd, name: program, stallSeconds: Self.stallSeconds) }

    /// Closes the vault's end of the pipe (the child sees end of input) and waits for the
    /// child, `exitSeconds` at most (then kills it); returns its standard error. Throws when
    /// it did not exit 0.
    @discardableResult
    func finish() throws(VaultError) -> String {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        var raw: Int32 = 0
        let deadline = ContinuousClock.now + .seconds(Self.exitSeconds)
        var pause: UInt32 = 1_000
        while true {
            let reaped = waitpid(pid, &raw, WNOHANG)
            if reaped == pid { break }
            if reaped < 0, errno != EINTR { throw VaultError(.io, "waiting for \(program): \(String(cString: strerror(errno)))") }
            if ContinuousClock.now >= deadline {
                kill(pid, SIGKILL)
                while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
                status = 128 + SIGKILL
                throw VaultError(.io, "\(program) did not exit within \(Self.exitSeconds) s of its input ending: killed")
            }
            usleep(pause)
            pause = min(pause * 2, 50_000)
        }
        let code = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        status = code
        let text = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        guard code == 0 else {
            throw VaultError(.io, "\(program) exited with status \(code): \(text.split(separator: "\n").suffix(8).joined(separator: "\n"))")
        }
        return text
    }

    /// Stops the child (after an error on the vault's side) and reaps it. SIGKILL: a child
    /// that inherited a mask blocking SIGTERM would otherwise run on until `exitSeconds`.
    func abandon() {
        guard status == nil else { return }
        kill(pid, SIGKILL)
        _ = try? finish()
    }
}
