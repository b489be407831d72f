// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "residency",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "residency", targets: ["residency"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // libpq from Debian's libpq-dev; imported by ResidencyPostgres only.
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        // libzstd and OpenSSL's libcrypto from Debian's libzstd-dev and libssl-dev; imported by ResidencyVault only.
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // Pure decisions: topology, placement, status verdicts. No Foundation, no I/O.
        .target(name: "ResidencyCore"),
        // YAML -> validated Core values; errors carry file:line:col.
        .target(
            name: "ResidencyConfig",
            dependencies: ["ResidencyCore", .product(name: "Yams", package: "Yams")]
        ),
        // The only importer of CLibPQ: connections, queries, local node manager, tenant schemas.
        .target(
            name: "ResidencyPostgres",
            dependencies: ["CLibPQ", "ResidencyCore", .product(name: "Logging", package: "swift-log")]
        ),
        // The coordinator side: control store, topology bring-up, status collection.
        .target(
            name: "ResidencyRuntime",
            dependencies: [
                "ResidencyCore", "ResidencyConfig", "ResidencyPostgres", "ResidencyVault",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The vault: zstd + AES-256-GCM objects with envelope keys, WORM storage per region,
        // the WAL archive, base backups and point-in-time restore.
        .target(
            name: "ResidencyVault",
            dependencies: ["CZstd", "COpenSSL", "ResidencyCore", "ResidencyPostgres"]
        ),
        // Drills: the workload that writes through a tenant's connection string and records every attempt.
        .target(name: "ResidencyChaos", dependencies: ["ResidencyCore", "ResidencyPostgres", "ResidencyRuntime", "ResidencyConfig", "ResidencyVault", .product(name: "Logging", package: "swift-log")]),
        // Pure renderers: terminal tables and JSON documents.
        .target(name: "ResidencyReport", dependencies: ["ResidencyCore", "ResidencySim"]),
        // Deterministic simulation: simulated nodes, clients and faults; the real Core decides.
        .target(name: "ResidencySim", dependencies: ["ResidencyCore"]),
        .executableTarget(
            name: "residency",
            dependencies: [
                "ResidencyCore", "ResidencyConfig", "ResidencyRuntime", "ResidencyReport", "ResidencyPostgres", "ResidencyChaos", "ResidencySim",
                "ResidencyVault",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // bench/failover.sh: RTO of zone failures against real servers (prints figures; not a test).
        .executableTarget(
            name: "residency-failover-bench",
            dependencies: ["ResidencyRuntime", "ResidencyChaos", "ResidencyPostgres", "ResidencyCore", "BenchSupport"],
            path: "bench/FailoverBench"
        ),
        .target(name: "BenchSupport", path: "bench/BenchSupport"),
        // bench/core.sh: Core deciding the failovers of a zone holding many primaries (prints figures; not a test).
        .executableTarget(
            name: "residency-core-bench",
            dependencies: ["ResidencyCore", "BenchSupport"],
            path: "bench/CoreBench"
        ),
        // bench/simulate.sh: simulated events per second and simulated RTO (prints figures; not a test).
        .executableTarget(
            name: "residency-sim-bench",
            dependencies: ["ResidencySim", "ResidencyConfig", "ResidencyCore", "BenchSupport"],
            path: "bench/SimBench"
        ),
        // bench/many-primaries.sh: worst-shard RTO against primaries in a lost zone (prints figures; not a test).
        .executableTarget(
            name: "residency-many-primaries-bench",
            dependencies: ["ResidencyRuntime", "ResidencyChaos", "ResidencyPostgres", "ResidencyCore", "BenchSupport"],
            path: "bench/ManyPrimariesBench"
        ),
        .executableTarget(
            name: "residency-move-bench",
            dependencies: ["ResidencyRuntime", "ResidencyChaos", "ResidencyPostgres", "ResidencyCore", "BenchSupport"],
            path: "bench/MoveBench"
        ),
        .testTarget(name: "ResidencyCoreTests", dependencies: ["ResidencyCore"]),
        .testTarget(name: "ResidencySimTests", dependencies: ["ResidencySim", "ResidencyCore", "ResidencyConfig"]),
        .testTarget(name: "ResidencyVaultTests", dependencies: ["ResidencyVault", "ResidencyCore"]),
        .testTarget(name: "ResidencyConfigTests", dependencies: ["ResidencyConfig", "ResidencyCore", "ResidencyReport"]),
        // Live PostgreSQL: starts its own servers through the `residency` executable and the libraries.
        .testTarget(
            name: "ResidencyIntegrationTests",
            dependencies: ["residency", "ResidencyRuntime", "ResidencyPostgres", "ResidencyConfig", "ResidencyCore", "ResidencyChaos", "ResidencyReport", "ResidencyVault", .product(name: "Logging", package: "swift-log")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
