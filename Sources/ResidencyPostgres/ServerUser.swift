import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The OS user that runs PostgreSQL's server programs. PostgreSQL refuses to run as root,
/// so when the tool runs as root they run as `postgres`; otherwise as the caller.
public struct ServerUser: Sendable, Hashable {
    public let name: String
    public let uid: uid_t
    public let gid: gid_t
    /// True when programs must be started through `runuser` (the caller is root).
    public let switchesUser: Bool

    /// The user for this process: `postgres` when root, the caller otherwise.
    public static func current() throws(PostgresError) -> ServerUser {
        if geteuid() == 0 {
            guard let entry = getpwnam("postgres") else {
                throw PostgresError(
                    kind: .command,
                    message: "running as root, and there is no 'postgres' OS user to run the servers as: install Debian's postgresql package, or run as an ordinary user",
                    context: "server user")
            }
            return ServerUser(name: "postgres", uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid, switchesUser: true)
        }
        let uid = geteuid()
        let name = getpwuid(uid).map { String(cString: $0.pointee.pw_name) } ?? "\(uid)"
        return ServerUser(name: name, uid: uid, gid: getegid(), switchesUser: false)
    }

    /// Makes `path` belong to this user (only needed, and only possible, when root).
    public func own(_ path: String) throws(PostgresError) {
        guard switchesUser else { return }
        if chown(path, uid, gid) != 0 {
            throw PostgresError(kind: .command, message: "cannot give \(path) to \(name): \(String(cString: strerror(errno)))", context: "chown")
        }
    }

    /// The command line that runs `arguments` as this user.
    public func commandLine(_ arguments: [String]) -> [String] {
        switchesUser ? ["/usr/sbin/runuser", "-u", name, "--"] + arguments : arguments
    }
}
