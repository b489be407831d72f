import Foundation
import ResidencyPostgres

/// The passwords of the topology's superuser and of each `ServiceRole`, kept in a libpq
/// password file (mode 0600, owned by the server user) that servers (for replication) and
/// the tool read. Connection strings name the file, never a password. Tenants' passwords
/// live in passfiles of their own (`TenantCredentials`).
public struct Secrets: Sendable {
    public let superuserPassword: String
    public let servicePasswords: [ServiceRole: String]

    /// New random passwords.
    public static func generate() -> Secrets {
        Secrets(superuserPassword: randomPassword(),
                servicePasswords: Dictionary(uniqueKeysWithValues: ServiceRole.allCases.map { ($0, randomPassword()) }))
    }

    public func password(of role: ServiceRole) -> String { servicePasswords[role] ?? "" }

    /// 32 characters of [A-Za-z0-9] from the system's CSPRNG.
    static func randomPassword() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var rng = SystemRandomNumberGenerator()
        return String((0..<32).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] })
    }

    public func write(to path: String, owner: ServerUser) throws(RuntimeError) {
        let text = ([(LocalNodeManager.superuser, superuserPassword)] + ServiceRole.allCases.map { ($0.name, password(of: $0)) })
            .map { "127.0.0.1:*:*:\($0.0):\($0.1)\n" }.joined()
        try PrivateFile.write(text, to: path)
        do { try owner.own(path) } catch { throw RuntimeError(.unavailable, "cannot give the password file \(path) to \(owner.name): \(error)") }
    }

    public static func read(from path: String) throws(RuntimeError) -> Secrets {
        guard let passwords = PrivateFile.passwords(inPassfile: path) else {
            throw RuntimeError(.unavailable, "cannot read the password file \(path)")
        }
        guard let superuser = passwords[LocalNodeManager.superuser] else {
            throw RuntimeError(.unavailable, "the password file \(path) lacks the entry of \(LocalNodeManager.superuser)")
        }
        var services: [ServiceRole: String] = [:]
        for role in ServiceRole.allCases {
            guard let password = passwords[role.name] else {
                throw RuntimeError(.invalidInput, """
                    the password file \(path) has no entry of \(role.name): this topology was created by an older residency \
                    whose coordinator, replication and control store used the superuser; recreate it (move the data out, \
                    then residency down --purge && residency up)
                    """)
            }
            services[role] = password
        }
        return Secrets(superuserPassword: superuser, servicePasswords: services)
    }
}
