import ResidencyCore
import ResidencyPostgres

/// What every job of a move executor works with: the control store, the data nodes, the
/// topology, the settings the driver decides with, and where progress goes.
struct MoveContext {
    let control: ControlStore
    let data: DataNodes
    let topology: Topology
    let settings: MoveSettings
    /// Parallel pipelines of the initial copy.
    let copyWorkers: Int
    let observe: (MoveExecutor.Event) -> Void

    /// A fresh connection to the current primary of `shard` (as the control store records
    /// it), as the mover's role, and its port.
    func primary(of shard: ShardID) throws(RuntimeError) -> (Connection, Int) {
        let port = try control.primaryPort(of: shard).port
        return (try data.connect(port: port, user: ServiceRole.mover.name), port)
    }

    /// Runs `body`, turning a PostgreSQL error into an `unavailable` error that names the server.
    @discardableResult
    func sql<T>(_ connection: Connection, _ body: () throws(PostgresError) -> T) throws(RuntimeError) -> T {
        do {
            return try body()
        } catch {
            throw RuntimeError(.unavailable, "\(connection.address): \(error)")
        }
    }
}
