import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a local program to completion and captures what it printed (stdout and stderr
/// together). Uses `posix_spawn` and `waitpid` directly: the child gets a session of its
/// own, so a server it starts never receives the terminal's Ctrl-C, and nothing but the
/// output pipe is shared with it.
public enum CommandRunner {
    public struct Output: Sendable {
        public let status: Int32
        public let text: String
    }

    /// Runs `arguments` (absolute program path first) as `user`. Throws when the program
    /// exits non-zero, with the tail of its output.
    @discardableResult
    public static func run(_ arguments: [String], as user: ServerUser) throws(PostgresError) -> Output {
        let output = try launch(user.commandLine(arguments))
        guard output.status == 0 else {
            let program = URL(fileURLWithPath: arguments[0]).lastPathComponent
            throw PostgresError(kind: .command, message: "exited with status \(output.status): \(tail(output.text))", context: program)
        }
        return output
    }

    /// Runs `arguments` and returns its exit status (128 + signal when killed) and output.
    public static func launch(_ arguments: [String]) throws(PostgresError) -> Output {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0, fcntl(fds[0], F_SETFD, FD_CLOEXEC) == 0, fcntl(fds[1], F_SETFD, FD_CLOEXEC) == 0 else {
            throw PostgresError(kind: .command, message: "pipe: \(String(cString: strerror(errno)))", context: arguments[0])
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        var pid: pid_t = 0
        let spawned = spawn(arguments, actions: &actions, pid: &pid)
        close(fds[1])
        guard spawned == 0 else {
            close(fds[0])
            throw PostgresError(kind: .command, message: "cannot start: \(String(cString: strerror(spawned)))", context: arguments[0])
        }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fds[0], &buffer, buffer.count)
            if count > 0 {
                data.append(contentsOf: buffer[0..<count])
            } else if count == 0 || errno != EINTR {
                break
            }
        }
        close(fds[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = status & 0x7f == 0
        let code = exited ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Output(status: code, text: String(decoding: data, as: UTF8.self))
    }

    /// `posix_spawn` of `arguments` with `actions`, in a session of its own, with the
    /// caller's environment and a C locale (deterministic messages from PostgreSQL's
    /// programs, whatever the caller's); returns `posix_spawn`'s result.
    public static func spawn(_ arguments: [String], actions: inout posix_spawn_file_actions_t, pid: inout pid_t) -> Int32 {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Self.spawnSetSID)
        var environment = ProcessInfo.processInfo.environment
        environment["LC_ALL"] = "C.UTF-8"
        environment["LC_MESSAGES"] = "C"
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        return posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
    }

    /// Starts `arguments` in a session of its own with stdout and stderr appended to
    /// `logFile`, and does not wait for it; returns its pid.
    public static func spawnDetached(_ arguments: [String], logFile: String) throws(PostgresError) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logFile, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, spawnSetSID)
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard spawned == 0 else {
            throw PostgresError(kind: .command, message: "cannot start: \(String(cString: strerror(spawned)))", context: arguments[0])
        }
        return pid
    }

    /// glibc's `POSIX_SPAWN_SETSID` (spawn.h, glibc >= 2.26), which Swift's Glibc module
    /// does not export because it sits behind `_GNU_SOURCE`.
    private static let spawnSetSID: Int16 = 0x80

    /// The last lines of a program's output, enough to say why it failed.
    static func tail(_ text: String, lines: Int = 8) -> String {
        text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}
