import Foundation
import ResidencyCore
#if canImport(Glibc)
import Glibc
#endif

/// Named points where tests and drills kill the process on purpose, to prove that the
/// next run resumes: `RESIDENCY_CRASH_AT=<name>` makes `reach(<name>)` SIGKILL the process.
/// Without the variable it does nothing.
public enum CrashPoint {
    public static let environmentVariable = "RESIDENCY_CRASH_AT"

    /// Every crash point, so `--help` and tests can list them.
    public static let all = [
        "up.after-control-initdb", "up.after-primary-initdb", "up.after-schema", "up.after-basebackup",
        "up.before-synchronous-standbys", "tenant.after-role", "tenant.after-data", "tenant.after-rows",
    ] + ShardOperation.Step.allCases.filter { $0 != .done }.map { "coordinator.after-\($0.rawValue)" }
        + MovePhase.allCases.filter { $0 != .planned }.map { "move.after-\($0.rawValue)" }
        + TenantRestore.crashPoints + ["backup.after-data", "promote.after-stage"]

    public static func reach(_ name: String) {
        precondition(all.contains(name), "unknown crash point \(name)")
        guard ProcessInfo.processInfo.environment[environmentVariable] == name else { return }
        FileHandle.standardError.write(Data("residency: crash point \(name) reached: killing myself (\(environmentVariable))\n".utf8))
        kill(getpid(), SIGKILL)
    }
}
