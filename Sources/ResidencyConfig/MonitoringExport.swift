import Foundation
import ResidencyCore

/// Per-minute samples from a monitoring system's CSV export
/// (`timestamp,tenant,product,requests,failures`, timestamps ISO 8601 UTC, bucketed by
/// minute) or from a drill's result document. Every bad row is reported with its line.
public enum MonitoringExport {
    public struct Key: Hashable, Sendable, Comparable {
        public let tenant: String
        public let product: String

        public init(tenant: String, product: String) {
            self.tenant = tenant
            self.product = product
        }

        public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.tenant, lhs.product) < (rhs.tenant, rhs.product) }
    }

    public static let header = "timestamp,tenant,product,requests,failures"

    public static func load(file: String) throws(ConfigErrors) -> [Key: [MinuteSample]] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw ConfigErrors(problems: [ConfigProblem(file: file, line: 1, column: 1, message: "cannot read: \(error.localizedDescription)")])
        }
        if file.hasSuffix(".json") { return try drillResult(data, file: file) }
        return try csv(String(decoding: data, as: UTF8.self), file: file)
    }

    public static func csv(_ text: String, file: String) throws(ConfigErrors) -> [Key: [MinuteSample]] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let first = lines.first, first.replacingOccurrences(of: " ", with: "") == header else {
            throw ConfigErrors(problems: [ConfigProblem(file: file, line: 1, column: 1, message: "the first line must be the header `\(header)`")])
        }
        var problems: [ConfigProblem] = []
        var buckets: [Key: [Int64: MinuteSample]] = [:]
        for (index, line) in lines.enumerated().dropFirst() {
            let number = index + 1
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            func bad(_ column: Int, _ message: String) {
                let offset = fields.prefix(column).reduce(0) { $0 + $1.count + 1 }
                problems.append(ConfigProblem(file: file, line: number, column: offset + 1, message: message))
            }
            guard fields.count == 5 else { bad(0, "expected 5 fields (\(header)), found \(fields.count)"); continue }
            guard let ms = CalendarMonth.parseISO8601(fields[0]) else { bad(0, "timestamp '\(fields[0])' is not ISO 8601 UTC (like 2026-11-03T10:15:00Z)"); continue }
            guard !fields[1].isEmpty else { bad(1, "empty tenant"); continue }
            guard !fields[2].isEmpty else { bad(2, "empty product"); continue }
            guard let requests = Int(fields[3]), requests >= 0 else { bad(3, "requests '\(fields[3])' is not a whole number >= 0"); continue }
            guard let failures = Int(fields[4]), failures >= 0, failures <= requests else {
                bad(4, "failures '\(fields[4])' must be a whole number from 0 to requests (\(requests))"); continue
            }
            let key = Key(tenant: fields[1], product: fields[2])
            let minute = (ms >= 0 ? ms : ms - 59_999) / 60_000
            var sample = buckets[key]?[minute] ?? MinuteSample(minute: minute, requests: 0, failures: 0)
            sample.requests += requests
            sample.failures += failures
            buckets[key, default: [:]][minute] = sample
        }
        if !problems.isEmpty { throw ConfigErrors(problems: problems) }
        return buckets.mapValues { $0.values.sorted { $0.minute < $1.minute } }
    }

    static func drillResult(_ data: Data, file: String) throws(ConfigErrors) -> [Key: [MinuteSample]] {
        struct Document: Decodable {
            struct Minute: Decodable { let tenant: String; let minute: Int64; let requests: Int; let failures: Int }
            let version: Int
            let minutes: [Minute]
        }
        do {
            let document = try JSONDecoder().decode(Document.self, from: data)
            var result: [Key: [MinuteSample]] = [:]
            for minute in document.minutes {
                result[Key(tenant: minute.tenant, product: "jira"), default: []].append(
                    MinuteSample(minute: minute.minute, requests: minute.requests, failures: minute.failures))
            }
            return result
        } catch {
            throw ConfigErrors(problems: [ConfigProblem(file: file, line: 1, column: 1, message: "not a drill result document: \(error)")])
        }
    }
}
