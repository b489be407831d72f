/// Decides whether source and target hold the same rows, covering every row while
/// hashing only the rows changed since a pre-check before the freeze.
///
/// The pre-check digests every table on the target (snapshot T) and then on the source
/// (snapshot S, taken later) while writers still run. From then on the target logs the key
/// of every row anything changes (replication or anyone else). After the freeze, and once
/// the target has applied everything up to it, the changed keys D are read back. A source
/// row changed after S was applied on the target after T, so its key is in D; a target row
/// changed after T is in D by the log. Rows outside D are therefore unchanged on both sides
/// since the pre-check, and for each side
///
///     now = preCheck - preCheck(D) + now(D)
///
/// where preCheck(D) is computed in the pre-check's snapshot (kept open until the freeze)
/// and now(D) in a fresh one. Every row is covered: the unchanged ones by the pre-check,
/// the changed ones by their fresh digest.
public enum MoveVerification {
    /// One side's digests of one table.
    public struct Side: Hashable, Sendable {
        public var preCheck: TableDigest
        /// Rows with a changed key, in the pre-check's snapshot.
        public var changedAtPreCheck: TableDigest
        /// The same keys now.
        public var changedNow: TableDigest

        public init(preCheck: TableDigest, changedAtPreCheck: TableDigest = .empty, changedNow: TableDigest = .empty) {
            self.preCheck = preCheck
            self.changedAtPreCheck = changedAtPreCheck
            self.changedNow = changedNow
        }

        /// The side's digest now.
        public var now: TableDigest { preCheck - changedAtPreCheck + changedNow }
    }

    public struct Difference: Hashable, Sendable, CustomStringConvertible {
        public let table: String
        public let source: TableDigest
        public let target: TableDigest

        public var description: String { "\(table): source \(source), target \(target)" }
    }

    /// The tables whose digests differ, in `tables` order; a table missing on one side counts as empty.
    public static func differences(tables: [String], source: [String: Side], target: [String: Side]) -> [Difference] {
        tables.compactMap { table in
            let s = source[table]?.now ?? .empty
            let t = target[table]?.now ?? .empty
            return s == t ? nil : Difference(table: table, source: s, target: t)
        }
    }
}
