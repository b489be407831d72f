import Foundation

/// Where PostgreSQL's server programs are: `RESIDENCY_PG_BINDIR`, else the newest
/// `/usr/lib/postgresql/N/bin` (Debian) with N >= 15, else `pg_config --bindir`.
public struct ServerBinaries: Sendable, Hashable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public static let minimumMajorVersion = 15

    public static func locate() throws(PostgresError) -> ServerBinaries {
        let fm = FileManager.default
        if let configured = ProcessInfo.processInfo.environment["RESIDENCY_PG_BINDIR"], !configured.isEmpty {
            guard fm.isExecutableFile(atPath: configured + "/postgres") else {
                throw PostgresError(kind: .command, message: "RESIDENCY_PG_BINDIR=\(configured) has no postgres program", context: "server binaries")
            }
            return ServerBinaries(directory: configured)
        }
        let debian = "/usr/lib/postgresql"
        let versions = ((try? fm.contentsOfDirectory(atPath: debian)) ?? [])
            .compactMap(Int.init).filter { $0 >= minimumMajorVersion }.sorted(by: >)
        for version in versions where fm.isExecutableFile(atPath: "\(debian)/\(version)/bin/postgres") {
            return ServerBinaries(directory: "\(debian)/\(version)/bin")
        }
        if let output = try? CommandRunner.launch(["/usr/bin/env", "pg_config", "--bindir"]), output.status == 0 {
            let dir = output.text.trimmingCharacters(in: .whitespacesAndNewlines)
            if fm.isExecutableFile(atPath: dir + "/postgres") { return ServerBinaries(directory: dir) }
        }
        throw PostgresError(
            kind: .command,
            message: "no PostgreSQL \(minimumMajorVersion)+ server programs found: install Debian's postgresql package (apt-get install postgresql), or set RESIDENCY_PG_BINDIR",
            context: "server binaries")
    }

    public func path(_ program: String) -> String { directory + "/" + program }
}
