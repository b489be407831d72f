import Foundation
import ResidencyPostgres
#if canImport(Glibc)
import Glibc
#endif

/// The background coordinator that `up` starts and `down` stops: its pid file and log
/// live in the state directory, and it is stopped by that pid, never by name.
public struct CoordinatorProcess {
    public let state: StateDirectory

    public init(state: StateDirectory) { self.state = state }

    public var pidFile: String { state.path + "/coordinator.pid" }
    public var logFile: String { state.path + "/coordinator.log" }

    /// The pid of the running background coordinator, if there is one.
    public var runningPID: Int32? {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), LocalNodeManager.isAlive(pid),
              let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
              String(decoding: cmdline, as: UTF8.self).contains("coordinator")
        else { return nil }
        return pid
    }

    /// Starts `residency coordinator --state <state>` unless one runs; returns its pid and
    /// whether it was started now.
    /// With `crashAt`, the coordinator kills itself at that crash point (drills).
    public func start(crashAt: String? = nil, executable: String? = nil, arguments: [String] = []) throws(RuntimeError) -> (pid: Int32, started: Bool) {
        if let pid = runningPID { return (pid, false) }
        let program = executable ?? URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        var command = [program, "coordinator", "--state", state.path] + arguments
        if let crashAt { command = ["/usr/bin/env", "\(CrashPoint.environmentVariable)=\(crashAt)"] + command }
        do {
            let pid = try CommandRunner.spawnDetached(command, logFile: logFile)
            try "\(pid)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
            return (pid, true)
        } catch {
            throw RuntimeError(.unavailable, "cannot start the coordinator: \(error)")
        }
    }

    /// Kills the background coordinator at once (a crash: it keeps its lease until expiry).
    @discardableResult
    public func crash() -> Int32? {
        guard let pid = runningPID else { return nil }
        kill(pid, SIGKILL)
        for _ in 0..<250 where LocalNodeManager.isAlive(pid) { usleep(20_000) }
        return pid
    }

    /// Stops the background coordinator (SIGTERM, then SIGKILL after 10 s); returns its pid.
    @discardableResult
    public func stop() -> Int32? {
        guard let pid = runningPID else { return nil }
        kill(pid, SIGTERM)
        for _ in 0..<500 where LocalNodeManager.isAlive(pid) { usleep(20_000) }
        if LocalNodeManager.isAlive(pid) { kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(atPath: pidFile)
        return pid
    }
}
