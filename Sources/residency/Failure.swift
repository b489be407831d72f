import ResidencyConfig
import ResidencyPostgres
import ResidencyRuntime
import ResidencyVault

/// An error on its way out, with the exit code of the architecture:
/// 1 a check did not hold, 2 could not do it, 65 invalid input (64, wrong command line,
/// is swift-argument-parser's own).
struct Failure: Error {
    let message: String
    let exitCode: Int32

    static let checkFailed: Int32 = 1
    static let unavailable: Int32 = 2
    static let invalidInput: Int32 = 65

    init(message: String, exitCode: Int32) {
        self.message = message
        self.exitCode = exitCode
    }

    /// The exit code map for every error type of the libraries; `nil` for the argument
    /// parser's own errors (help, usage), which it reports itself.
    init?(_ error: any Error) {
        switch error {
        case let error as ConfigErrors:
            self.init(message: error.description, exitCode: Self.invalidInput)
        case let error as RuntimeError:
            self.init(message: error.message, exitCode: error.kind == .invalidInput ? Self.invalidInput : Self.unavailable)
        case let error as VaultError:
            let code = switch error.kind {
            case .invalidInput: Self.invalidInput
            case .corrupt, .wrongKey, .retained: Self.checkFailed
            case .notFound, .io: Self.unavailable
            }
            self.init(message: error.message, exitCode: code)
        case let error as PostgresError:
            self.init(message: error.description, exitCode: Self.unavailable)
        default:
            return nil
        }
    }
}
