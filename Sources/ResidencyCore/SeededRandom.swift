/// A seeded random number generator (SplitMix64): the same seed gives the same sequence on
/// every machine, so a fuzz case or a simulated run can be replayed from its seed.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<bound` (0 when `bound` is 0 or 1).
    public mutating func below(_ bound: Int) -> Int { bound <= 1 ? 0 : Int(next() % UInt64(bound)) }

    /// A number in `0..<1`, from the top 53 bits.
    public mutating func unit() -> Double { Double(next() >> 11) / 9_007_199_254_740_992 }

    /// An exponentially distributed duration of mean `mean` (a Poisson process's gaps).
    public mutating func exponential(mean: Double) -> Double { -mean * (1 - unit()).logNatural }
}

extension Double {
    /// The natural logarithm, without Foundation (Core imports none): ln(m·2^e) = ln m + e·ln 2,
    /// with ln m by its atanh series on [1, 2).
    public var logNatural: Double {
        guard self > 0 else { return -.infinity }
        let exponent = Double(self.exponent)
        let mantissa = self.significand
        let z = (mantissa - 1) / (mantissa + 1)
        let z2 = z * z
        var term = z
        var sum = 0.0
        var k = 1.0
        while true {
            let next = sum + term / k
            if next == sum { break }
            sum = next
            term *= z2
            k += 2
        }
        return 2 * sum + exponent * 0.693_147_180_559_945_3
    }
}
