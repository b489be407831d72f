import Foundation

/// Every JSON document the tool prints: pretty, with sorted keys, and a `"version"`.
public enum JSONDocument {
    /// The version of the documents' shapes; scripts may rely on every field of a version.
    public static let version = 1

    /// `snakeCase`: keys of synthesized `Codable` conformances (`retainUntil`) as `retain_until`.
    public static func render<T: Encodable>(_ value: T, snakeCase: Bool = false) -> String {
        let encoder = JSONEncoder()
        if snakeCase { encoder.keyEncodingStrategy = .convertToSnakeCase }
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            preconditionFailure("report values always encode: \(error)")
        }
    }
}
