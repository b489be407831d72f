import Foundation
import ResidencyCore
import ResidencyRuntime
import Synchronization

/// Runs a drill's `move` actions, one after another, each on a thread of its own with its
/// own `MoveExecutor` (the drill's writers and faults go on meanwhile), and records how
/// each one ended. A fault with `at_move_phase` waits here for the running move to journal
/// that phase.
final class DrillMover: Sendable {
    struct Running: Sendable {
        var reached: Set<MovePhase> = []
        /// Phases whose faults have fired: the move held there goes on.
        var released: Set<MovePhase> = []
        var ended = false
    }

    let layout: StateDirectory.Layout
    /// The drill's clock: milliseconds since 1970 on the control server's clock.
    let wallMs: @Sendable (ContinuousClock.Instant) -> Int64
    /// Phases that a fault waits for (`at_move_phase`): a move that journals one is held
    /// right there, before its next step, until the fault has fired (at most `holdMax`),
    /// so that the fault lands in that phase and not in a later one.
    let holdAt: Set<MovePhase>
    let holdMax: Duration = .seconds(30)
    private let running = Mutex<Running?>(nil)
    private let records = Mutex<[DrillHistory.Move]>([])

    init(layout: StateDirectory.Layout, holdAt: Set<MovePhase> = [], wallMs: @escaping @Sendable (ContinuousClock.Instant) -> Int64) {
        self.layout = layout
        self.holdAt = holdAt
        self.wallMs = wallMs
    }

    /// The fault that waited for `phase` has fired: the held move goes on.
    func release(_ phase: MovePhase) {
        running.withLock { _ = $0?.released.insert(phase) }
    }

    /// On the move's thread, right after it journaled `phase`.
    private func reached(_ phase: MovePhase) {
        running.withLock { _ = $0?.reached.insert(phase) }
        guard holdAt.contains(phase) else { return }
        let deadline = ContinuousClock.now + holdMax
        while ContinuousClock.now < deadline, running.withLock({ $0?.released.contains(phase) }) != true {
            usleep(5_000)
        }
    }

    /// One line about how a move ended, for the drill's progress.
    static func summary(_ record: DrillHistory.Move) -> String {
        "move \(record.tenant): " + (record.switched ? "switched \(record.fromShard?.rawValue ?? "?") -> \(record.toShard?.rawValue ?? "?")" : record.outcome)
            + (record.freezeMs.map { ", writes frozen \($0) ms" } ?? "") + (record.reason.isEmpty || record.switched ? "" : ": \(record.reason)")
    }

    /// The moves run so far, in order.
    var moves: [DrillHistory.Move] { records.withLock { $0 } }

    /// Whether a move is under way.
    var isRunning: Bool { running.withLock { $0.map { !$0.ended } ?? false } }

    /// Starts `order` once the previous move has ended.
    func start(_ order: Scenario.MoveOrder) {
        waitUntilIdle(timeout: .seconds(3600))
        running.withLock { $0 = Running() }
        let thread = Thread { [self] in
            let record = run(order)
            records.withLock { $0.append(record) }
            running.withLock { $0?.ended = true }
        }
        thread.start()
    }

    /// Waits until the running move has journaled `phase`; `false` when it ended (or
    /// `timeout` passed) without.
    func waitFor(_ phase: MovePhase, timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let state = running.withLock { $0 }
            if state?.reached.contains(phase) == true { return true }
            if state == nil || state?.ended == true { return false }
            usleep(10_000)
        }
        return false
    }

    /// Waits until no move runs; `false` after `timeout`.
    @discardableResult
    func waitUntilIdle(timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while isRunning {
            if ContinuousClock.now >= deadline { return false }
            usleep(50_000)
        }
        return true
    }

    private func run(_ order: Scenario.MoveOrder) -> DrillHistory.Move {
        let started = ContinuousClock.now
        var plan: MovePlan?
        var id: Int64?
        var copied: ContinuousClock.Instant?
        var switched: ContinuousClock.Instant?
        func record(_ outcome: String, _ reason: String, freezeMs: Int64? = nil) -> DrillHistory.Move {
            let catchUp = copied.flatMap { from in switched.map { ($0 - from).inMilliseconds } }
            return DrillHistory.Move(tenant: order.tenant, id: id, fromShard: plan?.fromShard, toShard: plan?.toShard, toRealm: order.toRealm,
                                     startedAtMs: wallMs(started), endedAtMs: wallMs(.now), outcome: outcome, reason: reason, freezeMs: freezeMs,
                                     catchUpMs: catchUp)
        }
        do {
            let executor = try MoveExecutor(layout: layout) { [self] event in
                guard case let .phase(move) = event else { return }
                id = move.id
                if move.phase == .catchingUp { copied = .now }
                if move.phase == .switched { switched = .now }
                reached(move.phase)
            }
            plan = try executor.plan(tenant: order.tenant.rawValue, to: order.toRealm.rawValue, region: order.toRegion?.rawValue)
            // The drill purges the source copy itself once the topology has converged.
            let move = try executor.start(plan!, retentionDays: 0)
            return record(move.phase.rawValue, move.reason, freezeMs: move.freezeMilliseconds)
        } catch {
            return record("failed", "\(error)")
        }
    }
}
