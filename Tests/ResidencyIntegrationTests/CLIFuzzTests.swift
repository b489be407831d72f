import Foundation
import ResidencyCore
import ResidencyPostgres
import Testing

/// Random command lines against the real executable, on a state directory that does not
/// exist (no server is ever started: `up` and `coordinator` are left out, `drill` always
/// runs with `--check`). Every case must end within 2 s with exit 0, 1, 64 or 65, or 2
/// saying that no topology exists there; no control character may reach the terminal raw.
/// `RESIDENCY_FUZZ_CASES` / `RESIDENCY_FUZZ_SEED` as in `FuzzTests`.
@Suite struct CLIFuzzTests {
    static let cases = ProcessInfo.processInfo.environment["RESIDENCY_FUZZ_CASES"].flatMap(Int.init).map { $0 / 5 } ?? 120
    static let seed = ProcessInfo.processInfo.environment["RESIDENCY_FUZZ_SEED"].flatMap(UInt64.init) ?? 13
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let commands: [[String]] = [
        ["validate"], ["report", "sla"], ["report", "residency"], ["drill"], ["status"], ["events"], ["down"], ["conninfo"],
        ["tenant", "create"], ["tenant", "list"], ["tenant", "credentials"], ["move", "plan"], ["move", "start"], ["move", "schedule"],
        ["move", "cancel"], ["move", "list"], ["move", "status"], ["move", "rollback"], ["move", "purge"], ["move", "resume"],
        ["failover"], ["switchover"], ["zone", "stop"], ["zone", "start"], ["rebalance"],
    ]
    static let flags = [
        "--json", "--month", "--from", "--tier", "--tenant", "--to", "--region", "--realm", "--apps", "--products", "--demo-rows",
        "--repeat", "--report", "--timeout", "--retention-days", "--zone", "--dry-run", "--rotate", "--force", "--window", "--app", "--limit",
        "--", "-h", "-x", "--topology",
    ]
    static let values = [
        "acme", "eu", "us-east", "2026-11", "2026-+1", "premium", "0", "-1", "99999999999999999999", "", " ", "\u{1B}[2J", "\u{202E}evil",
        "../../etc/passwd", "/dev/null", "simulations/zone-power-loss.yaml", "regions", "a\nb", "🙂", String(repeating: "x", count: 500),
        "2026-11-03T10:15Z/PT1H", "nan", "1e9", "--json",
    ]

    @Test func randomCommandLinesEndWithADocumentedExitCodeAndEscapedOutput() throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("residency-cli-fuzz-\(UInt64.random(in: 0...UInt64.max))").path
        var fuzzer = SeededRandom(seed: Self.seed)
        var exits: [Int32: Int] = [:]
        for index in 0..<Self.cases {
            var arguments = Self.commands[fuzzer.below(Self.commands.count)]
            for _ in 0..<fuzzer.below(5) {
                if fuzzer.below(2) == 0 { arguments.append(Self.flags[fuzzer.below(Self.flags.count)]) }
                arguments.append(Self.values[fuzzer.below(Self.values.count)])
            }
            if arguments[0] == "drill" { arguments.append("--check") }
            if !["validate", "report"].contains(arguments[0]) || arguments.count > 1 && arguments[1] == "residency" {
                arguments += ["--state", state]
            }
            let started = ContinuousClock.now
            let result = try CommandRunner.launch(["/usr/bin/timeout", "-s", "KILL", "5", TestTopology.executable] + arguments)
            exits[result.status, default: 0] += 1
            let elapsed = ContinuousClock.now - started
            let shown = "case \(index) (seed \(Self.seed)): residency \(arguments.map(\.debugDescription).joined(separator: " "))"
            #expect(elapsed < .seconds(2), "\(shown) took \(elapsed)")
            let documented: Set<Int32> = [0, 1, 64, 65]
            let noTopology = result.status == 2 && result.text.contains("run `residency up` first")
            #expect(documented.contains(result.status) || noTopology, "\(shown) exited \(result.status): \(result.text.prefix(400))")
            #expect(!result.text.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{202E}" }, "\(shown): raw control character in \(result.text.prefix(400))")
        }
        #expect(!FileManager.default.fileExists(atPath: state + "/layout.json"), "a fuzzed command created a topology")
        print("fuzz (seed \(Self.seed)): \(Self.cases) command lines: exits " + exits.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
    }
}
