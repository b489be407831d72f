import Foundation
import ResidencyCore

/// Where the CLI writes: results on stdout, progress and errors on stderr. Progress is
/// shown only when stderr is a terminal. Everything passes `Printable.escaped`: names and
/// file contents never reach the terminal with their control characters raw.
enum Terminal {
    static let isInteractive = isatty(STDERR_FILENO) == 1

    static func output(_ text: String) {
        print(Printable.escaped(text))
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data(("residency: " + Printable.escaped(text) + "\n").utf8))
    }

    /// One progress line on a terminal (nothing otherwise).
    static func progressLine(_ text: String) {
        guard isInteractive else { return }
        FileHandle.standardError.write(Data((Printable.escaped(text) + "\n").utf8))
    }

    /// A progress reporter that prefixes each line with the seconds since it was made.
    static func progress() -> @Sendable (String) -> Void {
        guard isInteractive else { return { _ in } }
        let start = ContinuousClock.now
        return { line in
            let elapsed = ContinuousClock.now - start
            let seconds = elapsed.inSeconds
            let stamp = String(format: "%6.1f", seconds)
            FileHandle.standardError.write(Data("[\(stamp)s] \(Printable.escaped(line))\n".utf8))
        }
    }
}
