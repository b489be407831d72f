import Foundation
import ResidencyCore
import ResidencyPostgres

/// What one run of a move keeps in memory: connections to the shards' current primaries,
/// the pre-check's open snapshots, the freeze's timings. Everything here can be lost (a
/// crash, a broken connection): `forget()` drops it and the next step reconnects to the
/// primaries the control store records then.
final class MoveSession {
    /// The source and target primaries of a move.
    struct Sides {
        let source: Connection
        let target: Connection
        let sourcePort: Int
        let targetPort: Int
        let copy: LogicalCopy
    }

    /// The pre-check's digests and the snapshots they were taken in (kept open until verified).
    struct PreCheck {
        let sourceSnapshot: Connection
        let targetSnapshot: Connection
        let targetSnapshotID: String
        let sourcePID: Int32
        var source: [String: TableDigest]
        var target: [String: TableDigest]
        /// Keys already logged as changed right before the freeze, per table, with their
        /// digests in the pre-check's snapshots: computed while writers still write, so the
        /// freeze only hashes the keys changed after them (and every changed key afresh).
        var earlyKeys: [String: Set<String>] = [:]
        var earlySource: [String: TableDigest] = [:]
        var earlyTarget: [String: TableDigest] = [:]
    }

    let context: MoveContext
    var move: Move
    private var cachedSides: Sides?
    var preCheck: PreCheck?
    var freezeStarted: ContinuousClock.Instant?
    /// Where the write freeze's time went, step by step.
    var freezeSteps: [(String, Duration)] = []
    /// Markers of this run are numbered from the wall clock, so that they never repeat one
    /// of an earlier run of the same move.
    var markerSeq = Int64(Date().timeIntervalSince1970 * 1000)

    init(context: MoveContext, move: Move) {
        self.context = context
        self.move = move
    }

    var plan: MovePlan { move.plan }

    /// The tables that move, as `schema.table`.
    var movingTables: [(name: String, schema: String, table: String)] {
        plan.movingDatasets.flatMap { dataset in dataset.tables.map { ("\(dataset.schema).\($0)", dataset.schema, $0) } }
    }

    var logicalCopy: LogicalCopy {
        LogicalCopy(moveID: move.id, tenant: plan.tenant, tables: plan.movingDatasets.flatMap { dataset in dataset.tables.map { (dataset.schema, $0) } })
    }

    /// Drops the connections and the pre-check's snapshots.
    func forget() {
        cachedSides = nil
        preCheck = nil
    }

    func sides() throws(RuntimeError) -> Sides {
        if let cachedSides { return cachedSides }
        let (source, sourcePort) = try context.primary(of: plan.fromShard)
        let (target, targetPort) = try context.primary(of: plan.toShard)
        let sides = Sides(source: source, target: target, sourcePort: sourcePort, targetPort: targetPort, copy: logicalCopy)
        cachedSides = sides
        return sides
    }

    /// Inserts a marker on the source and waits (up to `timeout`) until the target has it;
    /// returns the round trip. Throws when the marker has not arrived by then.
    @discardableResult
    func markerRoundTrip(timeout: Duration) throws(RuntimeError) -> Duration {
        guard let roundTrip = try marker(within: timeout) else {
            throw RuntimeError(.unavailable, "the target has not applied the source's changes within \(timeout)")
        }
        return roundTrip
    }

    /// Inserts a marker on the source and waits (up to `timeout`) until the target has it:
    /// the round trip, or `nil` when it has not arrived by then (a measurement during
    /// catch-up, not a failure: the lag may simply be large).
    func marker(within timeout: Duration) throws(RuntimeError) -> Duration? {
        let sides = try sides()
        markerSeq += 1
        let seq = markerSeq
        let clock = ContinuousClock()
        let started = clock.now
        try context.sql(sides.source) { () throws(PostgresError) in try sides.copy.insertMarker(seq, on: sides.source) }
        while try !context.sql(sides.target, { () throws(PostgresError) in try sides.copy.markerArrived(seq, on: sides.target) }) {
            if clock.now - started > timeout { return nil }
            usleep(2_000)
        }
        return clock.now - started
    }
}
