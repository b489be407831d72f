import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The 2 regions x 3 zones topology that the data-plane tests share, without a
/// coordinator: created on first use, destroyed when the test process exits.
enum SharedTopology {
    private static let instance = TestTopology.shared(
        regions: ["north", "south"], tenants: [("acme", "r0"), ("globex", "r0"), ("initech", "r1")],
        tenantArguments: ["--apps", "tempo", "--demo-rows", "5"])

    static func get() throws -> TestTopology { try instance.get() }
}
