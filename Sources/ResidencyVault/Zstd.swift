import CZstd

/// Streaming zstd (libzstd): one compressor or decompressor per object.
final class ZstdCompressor {
    private let context: OpaquePointer

    init(level: Int32) throws(VaultError) {
        guard let context = ZSTD_createCCtx() else { throw VaultError(.io, "zstd: no compression context") }
        self.context = context
        try Self.check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level), "level \(level)")
    }

    deinit { ZSTD_freeCCtx(context) }

    /// Compresses from `input` (advancing it) into `output` (advancing it); `end` flushes the
    /// frame. Returns true once everything was written out (only meaningful with `end`).
    func compress(_ input: inout ZSTD_inBuffer, _ output: inout ZSTD_outBuffer, end: Bool) throws(VaultError) -> Bool {
        let remaining = ZSTD_compressStream2(context, &output, &input, end ? ZSTD_e_end : ZSTD_e_continue)
        try Self.check(remaining, "compression")
        return remaining == 0
    }

    static func check(_ code: Int, _ what: String) throws(VaultError) {
        if ZSTD_isError(code) != 0 {
            throw VaultError(.io, "zstd \(what): \(String(cString: ZSTD_getErrorName(code)))")
        }
    }
}

final class ZstdDecompressor {
    private let context: OpaquePointer
    /// True when the last call ended exactly at the end of a zstd frame.
    private(set) var atFrameEnd = true

    init() throws(VaultError) {
        guard let context = ZSTD_createDCtx() else { throw VaultError(.io, "zstd: no decompression context") }
        self.context = context
    }

    deinit { ZSTD_freeDCtx(context) }

    /// Decompresses from `input` into `output`, advancing both. An authenticated object that
    /// does not decompress is reported as corrupt: it was written wrong, not tampered with.
    func decompress(_ input: inout ZSTD_inBuffer, _ output: inout ZSTD_outBuffer) throws(VaultError) {
        let consumed = input.pos
        let produced = output.pos
        let hint = ZSTD_decompressStream(context, &output, &input)
        if ZSTD_isError(hint) != 0 {
            throw VaultError(.corrupt, "zstd: the object's content does not decompress: \(String(cString: ZSTD_getErrorName(hint)))")
        }
        // A call with nothing left to read after a frame ended asks for the next frame's
        // header: that is not a frame cut short.
        if input.pos > consumed || output.pos > produced { atFrameEnd = hint == 0 }
    }
}
