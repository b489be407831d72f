import ResidencyCore
import Testing

@Suite struct MoveVerificationTests {
    func digest(_ rows: [UInt64]) -> TableDigest { TableDigest(count: Int64(rows.count), sum: rows.reduce(0, &+)) }

    @Test func aSumDigestDoesNotCancelADuplicatedRowAsXORWould() {
        let xor: UInt64 = 7 ^ 9
        #expect(xor == 7 ^ 9 ^ 9 ^ 9, "XOR loses a row that appears twice more")
        #expect(digest([7, 9]).sum != digest([7, 9, 9, 9]).sum)
        #expect(digest([7, 9, 9]) != digest([7]))
        #expect(digest([1, 2]) == digest([2, 1]))
    }

    @Test func theSumWrapsModulo2To64() {
        let big = TableDigest(count: 1, sum: .max)
        #expect((big + TableDigest(count: 1, sum: 2)).sum == 1)
        #expect((big + TableDigest(count: 1, sum: 2) - TableDigest(count: 1, sum: 2)) == big)
    }

    /// Rows as (key, hash): the pre-check saw `before`, the rows with changed keys are re-hashed.
    func side(before: [Int: UInt64], now: [Int: UInt64], changed: Set<Int>) -> MoveVerification.Side {
        MoveVerification.Side(
            preCheck: digest(Array(before.values)),
            changedAtPreCheck: digest(before.filter { changed.contains($0.key) }.map(\.value)),
            changedNow: digest(now.filter { changed.contains($0.key) }.map(\.value)))
    }

    @Test func rowsChangedAfterThePreCheckAreCoveredByTheirFreshDigest() {
        // The target lagged at its pre-check (row 3 not yet there); afterwards row 2 was updated and row 4 inserted on the source and applied.
        let source = side(before: [1: 10, 2: 20, 3: 30], now: [1: 10, 2: 21, 3: 30, 4: 40], changed: [2, 3, 4])
        let target = side(before: [1: 10, 2: 20], now: [1: 10, 2: 21, 3: 30, 4: 40], changed: [2, 3, 4])
        #expect(MoveVerification.differences(tables: ["t"], source: ["t": source], target: ["t": target]).isEmpty)
        #expect(source.now == digest([10, 21, 30, 40]))
    }

    @Test func aRowChangedOnTheTargetBehindTheMoversBackIsFound() {
        // Changed after the pre-check: the target's trigger logged key 1.
        let source = side(before: [1: 10, 2: 20], now: [1: 10, 2: 20], changed: [1])
        let target = side(before: [1: 10, 2: 20], now: [1: 99, 2: 20], changed: [1])
        let differences = MoveVerification.differences(tables: ["t"], source: ["t": source], target: ["t": target])
        #expect(differences.map(\.table) == ["t"])
    }

    @Test func aRowMissingOnTheTargetBeforeThePreCheckIsFoundWithoutAnyChange() {
        let source = side(before: [1: 10, 2: 20], now: [1: 10, 2: 20], changed: [])
        let target = side(before: [1: 10], now: [1: 10], changed: [])
        #expect(MoveVerification.differences(tables: ["t", "u"], source: ["t": source], target: ["t": target]).map(\.table) == ["t"])
    }

    @Test func aTableMissingOnOneSideCountsAsEmpty() {
        let source = side(before: [1: 10], now: [1: 10], changed: [])
        #expect(MoveVerification.differences(tables: ["t"], source: ["t": source], target: [:]).count == 1)
        #expect(MoveVerification.differences(tables: ["t"], source: [:], target: [:]).isEmpty)
    }
}
