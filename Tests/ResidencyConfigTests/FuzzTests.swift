import Dispatch
import Foundation
import Synchronization
import ResidencyConfig
import ResidencyCore
import ResidencyReport
import Testing

/// Corpus-driven fuzzing of every loader of user input: the shipped topology, scenarios and
/// SLA inputs, mutated by a seeded generator (byte flips, YAML indicators, aliases, control
/// characters, huge numbers, truncation). Each case must end in under 2 s with a result or a
/// `ConfigErrors` (a crash ends the test process; a trap is a crash). Cases that inject a
/// known defect must be refused. `RESIDENCY_FUZZ_CASES` and `RESIDENCY_FUZZ_SEED` run a longer
/// or another campaign (`fuzz/run.sh`); the default is a bounded run for `swift test`.
@Suite struct FuzzTests {
    static let cases = ProcessInfo.processInfo.environment["RESIDENCY_FUZZ_CASES"].flatMap(Int.init) ?? 300
    static let seed = ProcessInfo.processInfo.environment["RESIDENCY_FUZZ_SEED"].flatMap(UInt64.init) ?? 13

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func shipped(_ folder: String) -> [(file: String, text: String)] {
        let directory = root.appendingPathComponent(folder).path
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".yaml") }.sorted()
        return names.map { ("\(folder)/\($0)", (try? String(contentsOfFile: "\(directory)/\($0)", encoding: .utf8)) ?? "") }
    }

    static let regions: [(file: String, text: String)] = {
        let all = shipped("regions")
        return all.filter { $0.file.hasSuffix("/topology.yaml") } + all.filter { !$0.file.hasSuffix("/topology.yaml") }
    }()

    static let csv = """
        timestamp,tenant,product,requests,failures
        2026-11-03T10:15:00Z,acme,jira,100,1
        2026-11-03T10:15:30.5Z,acme,jira,100,9
        2026-11-03T10:16:00+00:00,acme,confluence,10,0
        2026-11-30T23:59:59Z,globex,jira,5,5
        """

    static let drillResult = """
        {"version": 1, "minutes": [{"tenant": "acme", "minute": 29893515, "requests": 120, "failures": 3},
         {"tenant": "acme", "minute": 29893516, "requests": 118, "failures": 60}]}
        """

    /// Runs `body` on a thread of its own; fails the test when it takes 2 s or more.
    func bounded(_ what: String, _ body: @escaping @Sendable () -> Void) {
        let done = DispatchSemaphore(value: 0)
        let started = ContinuousClock.now
        Thread {
            body()
            done.signal()
        }.start()
        if done.wait(timeout: .now() + 2) == .timedOut {
            Issue.record("\(what) took over 2 s (still running)")
            return
        }
        #expect(ContinuousClock.now - started < .seconds(2), "\(what)")
    }

    @Test func mutatedTopologiesLoadOrAreRefusedWithPositionsNeverCrashOrHang() {
        var fuzzer = Fuzzer(seed: Self.seed)
        let loaded = Atomic<Int>(0)
        for index in 0..<Self.cases {
            var sources = Self.regions
            let victim = fuzzer.below(sources.count)
            sources[victim].text = fuzzer.mutate(sources[victim].text)
            let input = sources
            bounded("topology case \(index) (seed \(Self.seed)), \(input[victim].file)") {
                do throws(ConfigErrors) {
                    _ = try TopologyLoader.load(sources: input)
                    loaded.add(1, ordering: .relaxed)
                } catch {
                    for problem in error.problems { precondition(problem.line >= 1 && problem.column >= 1, "\(problem)") }
                }
            }
        }
        Self.summary("topologies", loaded: loaded.load(ordering: .relaxed))
    }

    static func summary(_ what: String, loaded: Int) {
        print("fuzz (seed \(seed)): \(cases) mutated \(what): \(loaded) accepted, \(cases - loaded) refused with a positioned problem, 0 crashes, 0 over 2 s")
    }

    @Test func mutatedScenariosLoadOrAreRefusedNeverCrashOrHang() throws {
        let topology = try TopologyLoader.load(sources: Self.regions)
        let scenarios = Self.shipped("simulations")
        var fuzzer = Fuzzer(seed: Self.seed &+ 1)
        let accepted = Atomic<Int>(0)
        for index in 0..<Self.cases {
            let (file, text) = scenarios[fuzzer.below(scenarios.count)]
            let mutated = fuzzer.mutate(text)
            bounded("scenario case \(index) (seed \(Self.seed)), \(file)") {
                guard let loaded = try? ScenarioLoader.load(file: file, text: mutated) else { return }
                if (try? ScenarioLoader.check(loaded, against: topology, file: file)) != nil { accepted.add(1, ordering: .relaxed) }
                precondition(ScenarioLoaderNames.isSafe(loaded.scenario.name), "unsafe scenario name \(loaded.scenario.name.debugDescription) accepted")
            }
        }
        Self.summary("scenarios", loaded: accepted.load(ordering: .relaxed))
    }

    @Test func mutatedSLAInputsAreJudgedOrRefusedNeverTrap() throws {
        let tier = try #require(try TopologyLoader.load(sources: Self.regions).serviceLevels.tiers.first)
        let month = CalendarMonth(year: 2026, month: 11)!
        var fuzzer = Fuzzer(seed: Self.seed &+ 2)
        let judged = Atomic<Int>(0)
        for index in 0..<Self.cases {
            let json = index % 3 == 0
            let mutated = fuzzer.mutate(json ? Self.drillResult : Self.csv)
            let monthText = index % 7 == 0 ? fuzzer.mutate("2026-11") : "2026-11"
            bounded("SLA case \(index) (seed \(Self.seed))") {
                _ = CalendarMonth(parsing: monthText)
                let samples = json
                    ? try? MonitoringExport.drillResult(Data(mutated.utf8), file: "d.json", month: month)
                    : try? MonitoringExport.csv(mutated, file: "m.csv", month: month)
                guard let samples else { return }
                judged.add(1, ordering: .relaxed)
                let results = samples.keys.sorted().map { SLAResult(tenant: $0.tenant, product: $0.product, month: month, samples: samples[$0] ?? [], tier: tier) }
                for result in results { precondition((0...100).contains(result.uptimePercent) && (0...100).contains(result.creditPercent), "\(result)") }
                _ = SLAReport.text(results)
                _ = SLAReport.json(results, month: month)
            }
        }
        Self.summary("SLA inputs (CSV and drill results)", loaded: judged.load(ordering: .relaxed))
    }

    /// Each injection breaks a rule the loaders must enforce; every one must be refused.
    @Test func everyInjectedDefectIsRefused() {
        let topologyFile = Self.regions[0]
        let region = Self.regions[1]
        let injections: [(String, [(file: String, text: String)])] = [
            ("an alias", [(topologyFile.file, topologyFile.text.replacing("realms:", with: "x: &a [1]\ny: *a\nrealms:"))] + Self.regions.dropFirst()),
            ("port 5432", [(topologyFile.file, topologyFile.text.replacing(/port: \d+/, with: "port: 5432"))] + Self.regions.dropFirst()),
            ("an ephemeral port", [(topologyFile.file, topologyFile.text.replacing(/port: \d+/, with: "port: 40000"))] + Self.regions.dropFirst()),
            ("a null region", [topologyFile, (region.file, region.text.replacing(/region: [a-z-]+/, with: "region: null"))] + Self.regions.dropFirst(2)),
            ("a control character", [topologyFile, (region.file, region.text.replacing(/region: [a-z-]+/, with: "region: \"eu\\e[2J\""))] + Self.regions.dropFirst(2)),
            ("no tier", [(topologyFile.file, topologyFile.text.components(separatedBy: "service_levels:")[0] + "service_levels: {}\n")] + Self.regions.dropFirst()),
        ]
        for (what, sources) in injections {
            #expect(throws: ConfigErrors.self, "\(what)") { try TopologyLoader.load(sources: sources) }
        }
        for bad in ["2026-+1", "2026-11-+3T+1:+5Z"] {
            #expect(CalendarMonth(parsing: bad) == nil && CalendarMonth.parseISO8601(bad) == nil)
        }
    }
}

/// The rule scenario names follow, restated for the fuzzer's property.
enum ScenarioLoaderNames {
    static func isSafe(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 63 && name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
            && !name.hasPrefix("-") && !name.hasSuffix("-") && !name.contains("--")
    }
}

/// Seeded mutations: the same seed gives the same cases.
struct Fuzzer {
    private var random: SeededRandom

    init(seed: UInt64) { random = SeededRandom(seed: seed) }

    mutating func next() -> UInt64 { random.next() }

    mutating func below(_ bound: Int) -> Int { random.below(bound) }

    static let tokens = [
        "*a", "&a ", "? ", "- ", ": ", "null", "~", "\u{1B}[2J", "\u{0}", "\u{202E}", "99999999999999999999", "-1", "5432", "40000", "0",
        "1e309", "nan", "\"", "'", "{", "}", "[", "]", ",", "\n", "\r\n", "\t", "#", "!!binary ", "<<: *a", "é", "🙂",
        String(repeating: "a", count: 300), "..", "/", "---\n", "...\n", "\u{FEFF}", "9223372036854775807", "-9223372036854775808", "+1",
        "2026-11-03T23:59:60Z", ",,,,", "\\", "%", "@", "`",
    ]

    mutating func mutate(_ text: String) -> String {
        var bytes = Array(text.utf8)
        for _ in 0...below(4) {
            let at = below(bytes.count + 1)
            switch below(6) {
            case 0 where !bytes.isEmpty:
                bytes[min(at, bytes.count - 1)] = UInt8(truncatingIfNeeded: next())
            case 1:
                bytes.insert(contentsOf: Array(Self.tokens[below(Self.tokens.count)].utf8), at: at)
            case 2:
                bytes.removeSubrange(at..<min(bytes.count, at + below(20)))
            case 3:
                let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
                let line = lines[below(lines.count)]
                bytes.insert(contentsOf: Array(line) + [UInt8(ascii: "\n")], at: at)
            case 4:
                bytes.removeSubrange(at...)
            default:
                // Replace a run of digits with a token.
                if let start = bytes[min(at, bytes.count)...].firstIndex(where: { $0 >= 0x30 && $0 <= 0x39 }) {
                    let end = bytes[start...].firstIndex { !($0 >= 0x30 && $0 <= 0x39) } ?? bytes.count
                    bytes.replaceSubrange(start..<end, with: Array(Self.tokens[below(Self.tokens.count)].utf8))
                }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
