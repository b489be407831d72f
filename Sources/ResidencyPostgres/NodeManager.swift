/// Creates, starts and stops the PostgreSQL servers of a topology. Local mode runs them
/// as child processes on this machine (`LocalNodeManager`); remote mode (later) will
/// manage servers on other hosts through an agent, behind this same interface.
public protocol NodeManager: Sendable {
    /// Creates a new cluster for a primary (its own `initdb`, so its own system identifier);
    /// `extraSettings` go to the end of its `postgresql.conf`.
    func initializePrimary(_ server: String, superuserPassword: String, extraSettings: String) throws(PostgresError)
    /// Creates a standby's data directory as a base backup of `primary`, streaming its WAL
    /// through `slot`, and configures it to follow `primary`.
    func createStandby(_ server: String, from primary: ConnectionSettings, slot: String) throws(PostgresError)
    /// Starts the server on `port`; returns false when it was already running.
    @discardableResult
    func start(_ server: String, port: Int, clusterName: String) throws(PostgresError) -> Bool
    /// Stops the server (fast shutdown, then immediate, then SIGKILL); returns false when it was not running.
    @discardableResult
    func stop(_ server: String) throws(PostgresError) -> Bool
    /// The postmaster's pid, when the server runs.
    func runningPID(_ server: String) -> Int32?
    /// Whether the server's data directory exists.
    func exists(_ server: String) -> Bool
    /// Deletes the server's data (it must be stopped).
    func remove(_ server: String) throws(PostgresError)
    /// Makes a stopped server a standby of `primary` (configuration only).
    func followPrimary(_ server: String, primary: ConnectionSettings, slot: String) throws(PostgresError)
    /// Rewinds a stopped former primary onto `source`'s timeline and makes it follow `source`.
    func rewind(_ server: String, from source: ConnectionSettings, upstream: ConnectionSettings, slot: String) throws(PostgresError)
    /// Sends `signal` to every process of the server at once (power loss, partition, fence).
    @discardableResult
    func signalAll(_ server: String, _ signal: Int32) -> [Int32]
}
