extension Connection {
    /// The columns of `table` (schema-qualified, quoted), each quoted, in table order: the
    /// column list of a `COPY` that must match on both sides.
    public func columnNames(of table: String) throws(PostgresError) -> [String] {
        try query("""
            SELECT quote_ident(attname) FROM pg_attribute
            WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum
            """, [table]).rows.compactMap { $0[0] }
    }
}
