import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The 2 regions x 3 zones topology that the data-plane tests share: created on first use
/// by `residency up`, destroyed (`down --purge`) when the test process exits.
enum SharedTopology {
    private static let instance: Result<TestTopology, TestError> = {
        do {
            let topology = try TestTopology(regions: ["north", "south"], zones: 3)
            created = topology
            atexit { SharedTopology.created?.destroy() }
            let up = try topology.residency(["up", "--no-coordinator"])
            guard up.status == 0 else { throw TestError("residency up failed (\(up.status)):\n\(up.text)") }
            for (tenant, realm) in [("acme", "r0"), ("globex", "r0"), ("initech", "r1")] {
                let created = try topology.residency(["tenant", "create", tenant, "--realm", realm, "--apps", "tempo", "--demo-rows", "5"])
                guard created.status == 0 else { throw TestError("tenant create \(tenant) failed:\n\(created.text)") }
            }
            return .success(topology)
        } catch let error as TestError {
            return .failure(error)
        } catch {
            return .failure(TestError("\(error)"))
        }
    }()

    nonisolated(unsafe) private static var created: TestTopology?

    static func get() throws -> TestTopology { try instance.get() }
}
