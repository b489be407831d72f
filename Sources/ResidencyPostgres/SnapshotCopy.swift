import Foundation
import Synchronization

/// A move's initial copy: the tenant's rows of every moving table, read in the snapshot
/// that the move's slot exported and written to the target in binary COPY format, by
/// `workers` pipelines in parallel (each a thread with its own two connections; every
/// reader imports the same snapshot, so together they copy one consistent state).
public enum SnapshotCopy {
    public struct Table: Sendable {
        public let schema: String
        public let table: String
        /// Expected size, to hand out the largest tables first.
        public let weight: Int64

        public init(schema: String, table: String, weight: Int64) {
            self.schema = schema
            self.table = table
            self.weight = weight
        }
    }

    /// Copies every table; returns the rows copied. `progress` gets the bytes piped so far
    /// (from any worker's thread); `shouldStop` is asked before every buffer (a stopped
    /// copy commits nothing more).
    public static func run(
        _ copy: LogicalCopy, snapshot: String, tables: [Table], source: ConnectionSettings, target: ConnectionSettings, workers: Int,
        progress: @escaping @Sendable (Int64) -> Void, shouldStop: @escaping @Sendable () -> Bool
    ) throws(PostgresError) -> Int64 {
        let queue = Mutex(tables.sorted { $0.weight > $1.weight })
        let bytes = Mutex<[Int64]>(Array(repeating: 0, count: workers))
        let outcome = Mutex<(rows: Int64, finished: Int, failure: PostgresError?)>((0, 0, nil))
        for worker in 0..<max(workers, 1) {
            let thread = Thread {
                do throws(PostgresError) {
                    let reader = try Connection(source)
                    let writer = try Connection(target)
                    try reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    try reader.execute("SET TRANSACTION SNAPSHOT \(SQLText.literal(snapshot))")
                    try writer.execute("SET session_replication_role = replica")
                    var done: Int64 = 0
                    while outcome.withLock({ $0.failure == nil }), !shouldStop(), let next = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
                        let rows = try copy.copyRows(schema: next.schema, table: next.table, from: reader, into: writer, progress: { piped in
                            let total = bytes.withLock { counts in
                                counts[worker] = done + piped
                                return counts.reduce(0, +)
                            }
                            progress(total)
                        }, shouldStop: shouldStop)
                        done = bytes.withLock { $0[worker] }
                        outcome.withLock { $0.rows += rows }
                    }
                    try reader.execute("COMMIT")
                } catch {
                    outcome.withLock { if $0.failure == nil { $0.failure = error } }
                }
                outcome.withLock { $0.finished += 1 }
            }
            thread.name = "copy \(copy.name) #\(worker)"
            thread.start()
        }
        while outcome.withLock({ $0.finished < max(workers, 1) }) { usleep(10_000) }
        let result = outcome.withLock { $0 }
        if let failure = result.failure { throw failure }
        if shouldStop() { throw PostgresError(kind: .statement, message: "the copy was stopped", context: copy.name) }
        return result.rows
    }
}
