/// FNV-1a, 64 bits, as 16 hex digits: a short, stable name derived from a longer text
/// (a data folder from a state path, a role name from a long tenant name). Not a secret
/// and not collision-proof: callers refuse a collision where it matters.
public enum Fingerprint {
    public static func fnv1a(_ text: String) -> String {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            value ^= UInt64(byte)
            value &*= 0x100_0000_01b3
        }
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
