/// Passes a tar stream through unchanged while keeping the content of a few small members
/// (`backup_manifest`, `backup_label`), so that a base backup is read once: into the vault,
/// and for the WAL range it needs.
struct TarScanner<Inner: ByteSource>: ByteSource {
    var inner: Inner
    let wanted: Set<String>
    let limit: Int
    private(set) var captured: [String: [UInt8]] = [:]

    /// Bytes of the current header block gathered so far, or the member being skipped/kept.
    private var header: [UInt8] = []
    private var remainingContent = 0
    private var remainingPadding = 0
    private var capturing: String?
    private var ended = false

    init(_ inner: Inner, capturing wanted: Set<String>, limit: Int = 256 << 20) {
        self.inner = inner
        self.wanted = wanted
        self.limit = limit
    }

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(VaultError) -> Int {
        let count = try inner.read(into: buffer)
        var index = 0
        while index < count && !ended {
            if remainingContent > 0 {
                let take = min(remainingContent, count - index)
                if let name = capturing, captured[name, default: []].count + take <= limit {
                    captured[name, default: []].append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[index..<index + take]))
                }
                remainingContent -= take
                index += take
                if remainingContent == 0 { capturing = nil }
            } else if remainingPadding > 0 {
                let take = min(remainingPadding, count - index)
                remainingPadding -= take
                index += take
            } else {
                let take = min(512 - header.count, count - index)
                header.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[index..<index + take]))
                index += take
                if header.count == 512 {
                    parseHeader()
                    header.removeAll(keepingCapacity: true)
                }
            }
        }
        return count
    }

    private mutating func parseHeader() {
        if header.allSatisfy({ $0 == 0 }) {
            ended = true
            return
        }
        let name = String(decoding: header[0..<100].prefix { $0 != 0 }, as: UTF8.self)
        let sizeField = header[124..<136].prefix { $0 != 0 && $0 != 32 }
        let size = Int(String(decoding: sizeField, as: UTF8.self).trimmingCharacters(in: " "), radix: 8) ?? 0
        let type = header[156]
        remainingContent = size
        remainingPadding = (512 - size % 512) % 512
        capturing = (type == UInt8(ascii: "0") || type == 0) && wanted.contains(name) && size > 0 ? name : nil
        if remainingContent == 0 { capturing = nil }
    }
}

private extension String {
    func trimmingCharacters(in set: String) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}
