// What every benchmark under bench/ prints and waits with.
import Foundation

/// A progress line on stderr.
public func log(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }

/// A result line on stdout, unbuffered (a benchmark's output is usually piped).
public func say(_ text: String) { FileHandle.standardOutput.write(Data((text + "\n").utf8)) }

public func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// The nearest-rank percentile `p` (0...1).
public func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted[min(sorted.count - 1, max(0, Int((Double(sorted.count) * p).rounded(.up)) - 1))]
}

/// Polls `condition` every 20 ms for at most `timeout` seconds; its last answer.
public func waitUntil(_ timeout: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}
