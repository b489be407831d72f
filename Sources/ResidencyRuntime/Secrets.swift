import Foundation
import ResidencyPostgres

/// The password of the topology's superuser, kept in a libpq password file (mode 0600,
/// owned by the server user) that servers (for replication) and the tool read. Connection
/// strings name the file, never a password. Tenants' passwords live in passfiles of their
/// own (`TenantCredentials`).
public struct Secrets: Sendable {
    public let superuserPassword: String

    /// A new random password.
    public static func generate() -> Secrets {
        Secrets(superuserPassword: randomPassword())
    }

    /// 32 characters of [A-Za-z0-9] from the system's CSPRNG.
    static func randomPassword() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var rng = SystemRandomNumberGenerator()
        return String((0..<32).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] })
    }

    public func write(to path: String, owner: ServerUser) throws(RuntimeError) {
        let text = "127.0.0.1:*:*:\(LocalNodeManager.superuser):\(superuserPassword)\n"
        try PrivateFile.write(text, to: path)
        do { try owner.own(path) } catch { throw RuntimeError(.unavailable, "cannot give the password file \(path) to \(owner.name): \(error)") }
    }

    public static func read(from path: String) throws(RuntimeError) -> Secrets {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw RuntimeError(.unavailable, "cannot read the password file \(path)")
        }
        var passwords: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 4, omittingEmptySubsequences: false)
            if fields.count == 5 { passwords[String(fields[3])] = String(fields[4]) }
        }
        guard let superuser = passwords[LocalNodeManager.superuser] else {
            throw RuntimeError(.unavailable, "the password file \(path) lacks the entry of \(LocalNodeManager.superuser)")
        }
        return Secrets(superuserPassword: superuser)
    }
}
