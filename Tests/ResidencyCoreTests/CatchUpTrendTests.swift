import ResidencyCore
import Testing

@Suite struct CatchUpTrendTests {
    func sample(_ seconds: Int64, written: UInt64, applied: UInt64) -> CatchUpTrend.Sample {
        CatchUpTrend.Sample(at: Instant(.seconds(seconds)), written: LSN(written), applied: LSN(applied))
    }

    @Test func ratesAndTheETAComeFromTheSamplesOfTheWindow() {
        var trend = CatchUpTrend(window: .seconds(60))
        #expect(trend.eta == nil)
        trend.add(sample(0, written: 0, applied: 0))
        trend.add(sample(10, written: 10_000_000, applied: 5_000_000))
        #expect(trend.writtenBytesPerSecond == 1_000_000)
        #expect(trend.appliedBytesPerSecond == 500_000)
        #expect(trend.eta == nil, "the target does not gain on the source")
        trend.add(sample(20, written: 20_000_000, applied: 17_000_000))
        // 2 MB behind; written 1 MB/s, applied 0.85 MB/s over the window: still not gaining.
        #expect(trend.lagBytes == 3_000_000)
        #expect(trend.eta == nil)
        trend.add(sample(30, written: 20_000_000, applied: 19_000_000))
        // Over 30 s: written 0.667 MB/s, applied 0.633 MB/s.
        #expect(trend.eta == nil)
        trend.add(sample(40, written: 20_000_000, applied: 20_000_000))
        #expect(trend.eta == .zero)
    }

    @Test func samplesOlderThanTheWindowAreDroppedButTheWindowStaysCovered() {
        var trend = CatchUpTrend(window: .seconds(60))
        for second in stride(from: Int64(0), through: 300, by: 10) {
            trend.add(sample(second, written: UInt64(second) * 2_000_000, applied: UInt64(second) * 1_000_000 + (second >= 250 ? UInt64(second - 250) * 4_000_000 : 0)))
        }
        #expect(trend.samples.first!.at == Instant(.seconds(240)))
        #expect(trend.writtenBytesPerSecond == 2_000_000)
        // Applied over 240..300: 1 MB/s plus 4 MB/s from 250 on.
        #expect(trend.appliedBytesPerSecond == 4_333_333)
        #expect(trend.eta != nil)
        #expect(trend.summary.hasPrefix("lag "))
    }
}
