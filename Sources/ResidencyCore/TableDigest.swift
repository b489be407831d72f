/// An order-independent digest of a multiset of rows: the row count and the sum, modulo
/// 2^64, of a 64-bit hash of each row's text. A sum (unlike XOR) does not cancel a
/// duplicated row, and digests of disjoint row sets add up, which is what lets a move
/// verify most rows before its write freeze and correct the totals afterwards.
public struct TableDigest: Hashable, Sendable, Codable, CustomStringConvertible {
    public var count: Int64
    public var sum: UInt64

    public init(count: Int64, sum: UInt64) {
        self.count = count
        self.sum = sum
    }

    public static let empty = TableDigest(count: 0, sum: 0)

    public static func + (lhs: Self, rhs: Self) -> Self { TableDigest(count: lhs.count + rhs.count, sum: lhs.sum &+ rhs.sum) }
    public static func - (lhs: Self, rhs: Self) -> Self { TableDigest(count: lhs.count - rhs.count, sum: lhs.sum &- rhs.sum) }

    public var description: String { "\(count) rows, hash sum \(String(sum, radix: 16))" }
}
