/// A point in time as Core sees it: the time since an origin the caller chose (the
/// coordinator's start, or 0 in a simulation). Core never reads a clock; `now` is passed in.
public struct Instant: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let sinceOrigin: Duration

    public init(_ sinceOrigin: Duration) { self.sinceOrigin = sinceOrigin }

    public static let origin = Instant(.zero)

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.sinceOrigin < rhs.sinceOrigin }
    public static func + (lhs: Self, rhs: Duration) -> Self { Instant(lhs.sinceOrigin + rhs) }
    public static func - (lhs: Self, rhs: Self) -> Duration { lhs.sinceOrigin - rhs.sinceOrigin }

    public var description: String { "\(sinceOrigin)" }
}
