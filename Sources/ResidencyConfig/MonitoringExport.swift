import Foundation
import ResidencyCore
#if canImport(Glibc)
import Glibc
#endif

/// Per-minute samples from a monitoring system's CSV export
/// (`timestamp,tenant,product,requests,failures`, timestamps ISO 8601 UTC, bucketed by
/// minute) or from a drill's result document. Every bad row is reported with its line
/// (the first `problemLimit` of them, then a count).
///
/// A CSV is streamed a megabyte at a time and parsed as bytes; only the minutes of the
/// month asked for are kept (every row is still checked), so its size bounds neither time
/// nor memory beyond that month. A UTF-8 byte order mark and CRLF line ends are accepted.
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
    /// Problems listed one by one before the rest are only counted.
    public static let problemLimit = 50
    /// Minutes a drill result may name: 1970-01 to 9999-12.
    static let minutes: ClosedRange<Int64> = 0...(CalendarMonth(year: 9999, month: 12)!.endUnixMilliseconds / 60_000 - 1)

    /// Samples of `file` (`.json`: a drill result; anything else: CSV); with `month`, only
    /// that month's minutes are kept.
    public static func load(file: String, month: CalendarMonth? = nil) throws(ConfigErrors) -> [Key: [MinuteSample]] {
        try totals(file: file, month: month).mapValues(samples)
    }

    /// The downtime minutes (`Uptime.isDowntime`) of each tenant and product in `month`:
    /// what `report sla` needs, without building a sample per minute.
    public static func downtimeMinutes(file: String, month: CalendarMonth) throws(ConfigErrors) -> [Key: Int] {
        try totals(file: file, month: month).mapValues(\.downtimeMinutes)
    }

    /// Requests and failures per minute (since 1970) of one tenant and product. A few
    /// minutes sit in a dictionary; once a key has a quarter of the month's minutes (when
    /// the month is known) they move to an array of the whole month, 16 bytes a minute,
    /// smaller than a dictionary that size (its buckets double).
    struct Minutes {
        private var sparse: [UInt32: (requests: Int, failures: Int)] = [:]
        private var dense: [(requests: Int, failures: Int)] = []
        /// The month's first minute and its length, when only one month is kept.
        private let window: (first: UInt32, count: Int)?

        init(window: (first: UInt32, count: Int)?) { self.window = window }

        subscript(minute: UInt32) -> (requests: Int, failures: Int) {
            get {
                if !dense.isEmpty, let window { return dense[Int(minute - window.first)] }
                return sparse[minute] ?? (0, 0)
            }
            set {
                if !dense.isEmpty, let window {
                    dense[Int(minute - window.first)] = newValue
                    return
                }
                sparse[minute] = newValue
                if let window, sparse.count >= window.count / 4 {
                    dense = Array(repeating: (0, 0), count: window.count)
                    for (minute, totals) in sparse { dense[Int(minute - window.first)] = totals }
                    sparse = [:]
                }
            }
        }

        /// Every minute with requests or failures, in time order (a dense month leaves out
        /// minutes whose rows all said 0 requests: no downtime either way).
        var entries: [(minute: UInt32, totals: (requests: Int, failures: Int))] {
            if !dense.isEmpty, let window {
                return dense.enumerated().compactMap { offset, totals in
                    totals.requests == 0 && totals.failures == 0 ? nil : (window.first + UInt32(offset), totals)
                }
            }
            return sparse.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        }

        var downtimeMinutes: Int {
            if !dense.isEmpty { return dense.reduce(0) { $0 + (Uptime.isDowntime(requests: $1.requests, failures: $1.failures) ? 1 : 0) } }
            return sparse.values.reduce(0) { $0 + (Uptime.isDowntime(requests: $1.requests, failures: $1.failures) ? 1 : 0) }
        }
    }

    static func samples(_ minutes: Minutes) -> [MinuteSample] {
        minutes.entries.map { MinuteSample(minute: Int64($0.minute), requests: $0.totals.requests, failures: $0.totals.failures) }
    }

    static func window(of month: CalendarMonth?) -> (first: UInt32, count: Int)? {
        month.map { (UInt32($0.startUnixMilliseconds / 60_000), $0.minutes) }
    }

    static func totals(file: String, month: CalendarMonth?) throws(ConfigErrors) -> [Key: Minutes] {
        if file.hasSuffix(".json") {
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: file))
            } catch {
                throw ConfigErrors(problems: [ConfigProblem(file: file, line: 1, column: 1, message: "cannot read: \(error.localizedDescription)")])
            }
            return try drillResult(data, file: file, month: month).mapValues { samples in
                var minutes = Minutes(window: window(of: month))
                for sample in samples { minutes[UInt32(sample.minute)] = (sample.requests, sample.failures) }
                return minutes
            }
        }
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ConfigErrors(problems: [ConfigProblem(file: file, line: 1, column: 1, message: "cannot read: \(String(cString: strerror(errno)))")])
        }
        defer { close(fd) }
        var parser = CSVParser(file: file, month: month)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var carry: [UInt8] = []
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ConfigErrors(problems: [ConfigProblem(file: file, line: parser.lineNumber + 1, column: 1, message: "cannot read: \(String(cString: strerror(errno)))")])
            }
            if count == 0 { break }
            try buffer.withUnsafeBufferPointer { (chunk: UnsafeBufferPointer<UInt8>) throws(ConfigErrors) in
                var start = 0
                for index in 0..<count where chunk[index] == UInt8(ascii: "\n") {
                    if carry.isEmpty {
                        try parser.line(UnsafeBufferPointer(rebasing: chunk[start..<index]))
                    } else {
                        carry.append(contentsOf: chunk[start..<index])
                        try carry.withUnsafeBufferPointer { (line) throws(ConfigErrors) in try parser.line(line) }
                        carry.removeAll(keepingCapacity: true)
                    }
                    start = index + 1
                }
                carry.append(contentsOf: chunk[start..<count])
            }
            guard carry.count <= 1 << 20 else {
                throw ConfigErrors(problems: [ConfigProblem(file: file, line: parser.lineNumber + 1, column: 1, message: "a line longer than 1 MiB: not a monitoring export")])
            }
        }
        if !carry.isEmpty { try carry.withUnsafeBufferPointer { (line) throws(ConfigErrors) in try parser.line(line) } }
        return try parser.finish()
    }

    /// Parses CSV text (tests and small inputs); the same rules as `load`.
    public static func csv(_ text: String, file: String, month: CalendarMonth? = nil) throws(ConfigErrors) -> [Key: [MinuteSample]] {
        var parser = CSVParser(file: file, month: month)
        let bytes = Array(text.utf8)
        try bytes.withUnsafeBufferPointer { (all: UnsafeBufferPointer<UInt8>) throws(ConfigErrors) in
            var start = 0
            for index in all.indices where all[index] == UInt8(ascii: "\n") {
                try parser.line(UnsafeBufferPointer(rebasing: all[start..<index]))
                start = index + 1
            }
            if start < all.count { try parser.line(UnsafeBufferPointer(rebasing: all[start...])) }
        }
        return try parser.finish().mapValues(samples)
    }

    /// One row at a time, as bytes.
    struct CSVParser {
        let file: String
        let month: CalendarMonth?
        private(set) var lineNumber = 0
        private var problems: [ConfigProblem] = []
        private var moreProblems = 0
        private var buckets: [Key: Minutes] = [:]
        /// The previous row's tenant and product, as bytes and as a key: rows of one
        /// tenant and product come in runs, so most rows build no string.
        private var lastTenant: [UInt8] = []
        private var lastProduct: [UInt8] = []
        private var lastKey: Key?

        private let window: (first: UInt32, count: Int)?

        init(file: String, month: CalendarMonth?) {
            self.file = file
            self.month = month
            window = MonitoringExport.window(of: month)
        }

        private static let headerBytes = Array(MonitoringExport.header.utf8)

        mutating func line(_ raw: UnsafeBufferPointer<UInt8>) throws(ConfigErrors) {
            lineNumber += 1
            var line = raw[...]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if lineNumber == 1 {
                if line.starts(with: [0xEF, 0xBB, 0xBF]) { line = line.dropFirst(3) }
                guard line.filter({ $0 != UInt8(ascii: " ") }).elementsEqual(Self.headerBytes) else {
                    throw ConfigErrors(problems: [ConfigProblem(file: file, line: 1, column: 1, message: "the first line must be the header `\(MonitoringExport.header)`")])
                }
                return
            }
            guard !line.isEmpty else { return }
            // Field bounds (start, end) in `line`'s indices, and each field trimmed of blanks.
            var bounds: [(Int, Int)] = []
            bounds.reserveCapacity(5)
            var start = line.startIndex
            for index in line.indices where line[index] == UInt8(ascii: ",") {
                bounds.append((start, index))
                start = index + 1
            }
            bounds.append((start, line.endIndex))
            func field(_ i: Int) -> Slice<UnsafeBufferPointer<UInt8>> {
                var slice = line[bounds[i].0..<bounds[i].1]
                while let first = slice.first, first == 0x20 || first == 0x09 { slice = slice.dropFirst() }
                while let last = slice.last, last == 0x20 || last == 0x09 { slice = slice.dropLast() }
                return slice
            }
            func text(_ i: Int) -> String { Printable.quoted(String(decoding: field(i), as: UTF8.self)) }
            func bad(_ i: Int, _ message: String) {
                guard problems.count < MonitoringExport.problemLimit else { moreProblems += 1; return }
                let column = i < bounds.count ? bounds[i].0 - line.startIndex + 1 : 1
                problems.append(ConfigProblem(file: file, line: lineNumber, column: column, message: message))
            }
            guard bounds.count == 5 else { return bad(0, "expected 5 fields (\(MonitoringExport.header)), found \(bounds.count)") }
            guard let ms = CalendarMonth.parseISO8601(bytes: ArraySlice(field(0))) else {
                return bad(0, "timestamp \(text(0)) is not ISO 8601 UTC (like 2026-11-03T10:15:00Z)")
            }
            let tenant = field(1)
            let product = field(2)
            guard !tenant.isEmpty else { return bad(1, "empty tenant") }
            guard !product.isEmpty else { return bad(2, "empty product") }
            guard let requests = Self.count(field(3)) else { return bad(3, "requests \(text(3)) is not a whole number >= 0") }
            guard let failures = Self.count(field(4)), failures <= requests else {
                return bad(4, "failures \(text(4)) must be a whole number from 0 to requests (\(requests))")
            }
            // Timestamps parse from 1970 on: the minute is >= 0 and fits 32 bits until 10000.
            let minute = UInt32(ms / 60_000)
            let key: Key
            if let lastKey, tenant.elementsEqual(lastTenant), product.elementsEqual(lastProduct) {
                key = lastKey
            } else {
                key = Key(tenant: String(decoding: tenant, as: UTF8.self), product: String(decoding: product, as: UTF8.self))
                lastTenant = Array(tenant)
                lastProduct = Array(product)
                lastKey = key
            }
            if let month, CalendarMonth(containing: Int64(minute) * 60_000) != month {
                // Listed (with no minute of the month) like the tenants that have some.
                if buckets[key] == nil { buckets[key] = Minutes(window: window) }
                return
            }
            let before: (requests: Int, failures: Int) = buckets[key]?[minute] ?? (0, 0)
            let (total, overflow) = before.requests.addingReportingOverflow(requests)
            guard !overflow else {
                return bad(3, "the requests of \(key.tenant)/\(key.product) in this minute add up past \(Int.max)")
            }
            // failures <= requests in every row, so their sum cannot overflow first.
            buckets[key, default: Minutes(window: window)][minute] = (total, before.failures + failures)
        }

        /// A whole number >= 0 written in ASCII digits, without overflow.
        static func count(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> Int? {
            guard !bytes.isEmpty else { return nil }
            var value = 0
            for byte in bytes {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                let (times, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
                guard !o1, !o2 else { return nil }
                value = sum
            }
            return value
        }

        func finish() throws(ConfigErrors) -> [Key: Minutes] {
            if lineNumber == 0 {
                throw ConfigErrors(problems: [ConfigProblem(file: file, line: 1, column: 1, message: "the first line must be the header `\(MonitoringExport.header)`")])
            }
            if !problems.isEmpty {
                var all = problems
                if moreProblems > 0 {
                    all.append(ConfigProblem(file: file, line: lineNumber, column: 1, message: "and \(moreProblems) more bad row(s) not listed"))
                }
                throw ConfigErrors(problems: all)
            }
            return buckets
        }
    }

    /// A drill's result document: its per-tenant minutes (product `jira`), each checked
    /// (minute within 1970-9999, 0 <= failures <= requests, no minute twice).
    public static func drillResult(_ data: Data, file: String, month: CalendarMonth?) throws(ConfigErrors) -> [Key: [MinuteSample]] {
        struct Document: Decodable {
            struct Minute: Decodable { let tenant: String; let minute: Int64; let requests: Int; let failures: Int }
            let version: Int
            let minutes: [Minute]
        }
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: data)
        } catch {
            throw ConfigErrors(problems: [ConfigProblem(file: file, line: 1, column: 1, message: "not a drill result document: \(error)")])
        }
        var problems: [String] = []
        var result: [Key: [MinuteSample]] = [:]
        var seen: Set<Key> = []
        var seenMinutes: [Key: Set<Int64>] = [:]
        for (index, minute) in document.minutes.enumerated() {
            let at = "minutes[\(index)]"
            guard minutes.contains(minute.minute) else { problems.append("\(at): minute \(minute.minute) is outside 1970-9999"); continue }
            guard minute.requests >= 0 else { problems.append("\(at): requests \(minute.requests) is below 0"); continue }
            guard (0...minute.requests).contains(minute.failures) else {
                problems.append("\(at): failures \(minute.failures) must be from 0 to requests (\(minute.requests))"); continue
            }
            guard !minute.tenant.isEmpty else { problems.append("\(at): empty tenant"); continue }
            let key = Key(tenant: minute.tenant, product: "jira")
            seen.insert(key)
            guard seenMinutes[key, default: []].insert(minute.minute).inserted else {
                problems.append("\(at): minute \(minute.minute) of \(Printable.quoted(minute.tenant)) appears twice"); continue
            }
            if let month, CalendarMonth(containing: minute.minute * 60_000) != month { continue }
            result[key, default: []].append(MinuteSample(minute: minute.minute, requests: minute.requests, failures: minute.failures))
        }
        if !problems.isEmpty {
            let listed = problems.prefix(problemLimit).map { ConfigProblem(file: file, line: 1, column: 1, message: $0) }
            let more = problems.count > problemLimit
                ? [ConfigProblem(file: file, line: 1, column: 1, message: "and \(problems.count - problemLimit) more not listed")] : []
            throw ConfigErrors(problems: listed + more)
        }
        // A tenant of the drill without minutes in the month still gets a (perfect) result.
        for key in seen where result[key] == nil { result[key] = [] }
        return result.mapValues { $0.sorted { $0.minute < $1.minute } }
    }
}
