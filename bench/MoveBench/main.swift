// Move benchmark: moves tenants of ROWS_K thousand demo rows per table (products and two
// eligible apps: about a million rows) from realm us to realm eu while a writer keeps
// writing to the moving tenant (following it to the target) and another to a neighbour on
// the source shard (both writers run through the baseline too). Per run, a same-run baseline first: a plain binary
// `psql -c "COPY (...) TO STDOUT (FORMAT binary)" | psql -c "COPY ... FROM STDIN (FORMAT binary)"`
// of the same rows between the same two servers, into fresh tables of the same shape.
// Usage: residency-move-bench STATE_DIR [RUNS] [ROWS_K]
import BenchSupport
import Foundation
import ResidencyChaos
import ResidencyCore
import ResidencyPostgres
import ResidencyRuntime

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: residency-move-bench STATE_DIR [RUNS] [ROWS_K]\n".utf8))
    exit(64)
}
let state = StateDirectory(option: arguments[1])
let runs = arguments.count > 2 ? Int(arguments[2]) ?? 10 : 10
let rowsPerTable = (arguments.count > 3 ? Int(arguments[3]) ?? 200 : 200) * 1000

func fmt(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }

do {
    let layout = try state.requireLayout()
    let control = try ControlStore(layout: layout)
    let topology = try control.requireTopology()
    let data = DataNodes(layout: layout)
    let catalog = TenantCatalog(control: control, data: data, topology: topology)
    let eligible = topology.apps.filter(\.residencyEligible).prefix(2).map(\.key.rawValue)
    if try !control.tenants().contains(where: { $0.id.rawValue == "bench-neighbour" }) {
        _ = try catalog.create(TenantCatalog.Request(name: "bench-neighbour", realm: "us", demoRows: 10))
    }
    @Sendable func conninfo(_ tenant: TenantID) -> String? {
        guard let control = try? ControlStore(layout: layout) else { return nil }
        return try? TenantConnection.connectionString(for: tenant, control: control, layout: layout)
    }
    func port(_ shard: ShardID) throws -> Int { try control.primaryPort(of: shard).port }

    var freezes: [Double] = []
    var gaps: [Double] = []
    var moveRates: [Double] = []
    var baselineRates: [Double] = []
    var ratios: [Double] = []
    var lost = 0
    var differences = 0
    var neighbourFailures = 0
    var rolledBack = 0
    for run in 1...runs {
        let name = "bench-move-\(run)-\(Int(Date().timeIntervalSince1970) % 100_000)"
        let tenant = TenantID(validating: name)!
        let created = ContinuousClock.now
        let record = try catalog.create(TenantCatalog.Request(name: name, realm: "us", apps: eligible, demoRows: rowsPerTable))
        log("run \(run): tenant \(name) with \(rowsPerTable / 1000)k rows per table created in \(fmt((ContinuousClock.now - created).inSeconds)) s")
        let executor = try MoveExecutor(layout: layout)
        if let workers = ProcessInfo.processInfo.environment["COPY_WORKERS"].flatMap({ Int($0) }) { executor.copyWorkers = workers }
        let plan = try executor.plan(tenant: name, to: "eu", region: nil)
        let sourcePort = try port(record.shard)
        let targetPort = try port(plan.toShard)

        // Writers on the moving tenant (following it to the target) and on a neighbour of the
        // source shard, running through the baseline and the move alike: same load for both.
        let mover = TenantWriter(connectionString: conninfo(tenant)!, tenant: tenant, writePause: .milliseconds(2)) { conninfo(tenant) }
        let neighbourID = TenantID(validating: "bench-neighbour")!
        let neighbour = TenantWriter(connectionString: conninfo(neighbourID)!, tenant: neighbourID, writePause: .milliseconds(2))
        mover.start()
        neighbour.start()
        Thread.sleep(forTimeInterval: 0.5)

        // Baseline: the same rows, psql binary COPY pipe, source primary -> fresh tables on the target primary.
        let target = try data.connect(port: targetPort)
        try target.execute("DROP SCHEMA IF EXISTS bench_baseline CASCADE; CREATE SCHEMA bench_baseline")
        var pipes: [String] = []
        for dataset in plan.movingDatasets {
            for table in dataset.tables {
                let scratch = "bench_baseline.\(dataset.schema)_\(table)"
                try target.execute("CREATE TABLE \(scratch) (LIKE \(dataset.schema).\(table) INCLUDING ALL)")
                let out = "COPY (SELECT * FROM \(dataset.schema).\(table) WHERE tenant_id = '\(name)') TO STDOUT (FORMAT binary)"
                pipes.append("psql -X -q 'host=127.0.0.1 port=\(sourcePort) dbname=residency user=residency' -c \"\(out)\" | psql -X -q 'host=127.0.0.1 port=\(targetPort) dbname=residency user=residency' -c \"COPY \(scratch) FROM STDIN (FORMAT binary)\"")
            }
        }
        let baselineStart = ContinuousClock.now
        let pipe = try CommandRunner.launch(["/usr/bin/env", "PGPASSFILE=\(layout.passfile)", "/bin/sh", "-ec", pipes.joined(separator: "\n")])
        let baseline = ContinuousClock.now - baselineStart
        guard pipe.status == 0 else { throw RuntimeError(.unavailable, "baseline pipe failed: \(pipe.text)") }
        try target.execute("DROP SCHEMA bench_baseline CASCADE")

        // The move, with the writers that already ran during the baseline.
        let move = try executor.start(plan, retentionDays: 7)
        Thread.sleep(forTimeInterval: 0.5)
        let history = mover.stop()
        let neighbourHistory = neighbour.stop()
        guard move.phase == .retained else {
            // Counted and reported (with what verification saw); the tenant stays on the source.
            say("run \(run): move \(move.id) ended \(move.phase.rawValue): \(move.reason); verification: \(move.verification)")
            rolledBack += 1
            continue
        }

        let acknowledged = history.filter { $0.outcome == .ok }.map(\.id)
        let found = Int(try target.query("SELECT count(*) FROM jira.issues WHERE tenant_id = $1 AND id = ANY ($2::uuid[])",
                                         [name, "{" + acknowledged.joined(separator: ",") + "}"]).scalar ?? "") ?? 0
        lost += acknowledged.count - found
        if !move.verification.contains("equal on both sides") { differences += 1 }
        let neighbourMissed = neighbourHistory.filter { $0.outcome != .ok }
        neighbourFailures += neighbourMissed.count
        for attempt in neighbourMissed.prefix(3) { log("run \(run): neighbour write \(attempt.outcome.rawValue): \(attempt.error ?? "")") }
        // The writer's view: the longest time between two acknowledged writes.
        let oks = history.filter { $0.outcome == .ok }.map(\.completedAt)
        let gap = zip(oks, oks.dropFirst()).map { ($1 - $0).inMilliseconds }.max() ?? 0
        let copySeconds = Double(move.copyMilliseconds ?? 0) / 1000
        let moveRate = Double(plan.movingRows) / max(copySeconds, 0.001)
        let baselineRate = Double(plan.movingRows) / baseline.inSeconds
        freezes.append(Double(move.freezeMilliseconds ?? -1))
        gaps.append(Double(gap))
        moveRates.append(moveRate)
        baselineRates.append(baselineRate)
        ratios.append(moveRate / baselineRate)
        say("run \(run): \(plan.movingRows) rows (\(plan.movingBytes / 1_000_000) MB) \(plan.fromShard) -> \(plan.toShard): copy \(fmt(copySeconds, 2)) s vs baseline pipe \(fmt(baseline.inSeconds, 2)) s (\(fmt(moveRate / baselineRate * 100, 0)) %), freeze \(move.freezeMilliseconds ?? -1) ms, writer gap \(gap) ms, acked \(acknowledged.count) lost \(acknowledged.count - found), \(move.verification)")
        _ = try executor.purge(move.id)
    }
    say("")
    say("runs: \(runs), rows per move: \(rowsPerTable * 5 + 1)")
    say("write freeze (tool: fence to switch commit): median \(fmt(median(freezes), 0)) ms, p99 \(fmt(percentile(freezes, 0.99), 0)) ms, max \(fmt(freezes.max() ?? .nan, 0)) ms")
    say("writer-observed gap between acknowledged writes: median \(fmt(median(gaps), 0)) ms, max \(fmt(gaps.max() ?? .nan, 0)) ms")
    say("copy throughput: median \(fmt(median(moveRates) / 1000, 0))k rows/s vs baseline binary COPY pipe median \(fmt(median(baselineRates) / 1000, 0))k rows/s; ratio median \(fmt(median(ratios) * 100, 0)) %, min \(fmt((ratios.min() ?? .nan) * 100, 0)) %")
    say("acknowledged writes lost: \(lost); moves with verification differences: \(differences); moves rolled back: \(rolledBack); neighbour writes not acknowledged: \(neighbourFailures)")
} catch {
    log("move bench failed: \(error)")
    exit(2)
}
