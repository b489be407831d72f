import Foundation
import Logging
import ResidencyCore
import ResidencyPostgres

/// `residency coordinator`: holds (or waits for) the lease, probes every node, and steps
/// Core's `CoordinatorDriver` with what happened; the driver's effects run on an
/// `EffectRunner` (shards side by side, each shard's steps in order), so deciding never
/// waits for an effect. Probe threads only observe; the loop thread only steps the driver
/// and writes its records.
public final class CoordinatorService {
    public let state: StateDirectory
    public let logger: Logger
    /// Who this instance is in the lease table: host, pid and a random suffix.
    public let holder: String
    /// A frozen or dead leader is replaced this long after its last renewal (`LeaseKeeper`
    /// renews it every `leaseRenewal` on a thread of its own).
    public let leaseTTL: Duration
    public let leaseRenewal: Duration
    /// Overrides the topology's `failover.effect_concurrency` when set.
    public let effectConcurrency: Int?

    /// When the first round of scheduled base backups runs.
    public let firstBackupAfter: Duration

    public init(state: StateDirectory, logger: Logger, leaseTTL: Duration = .seconds(3), leaseRenewal: Duration = .milliseconds(300),
                effectConcurrency: Int? = nil, firstBackupAfter: Duration = .seconds(60)) {
        self.firstBackupAfter = firstBackupAfter
        self.state = state
        self.effectConcurrency = effectConcurrency
        self.logger = logger
        self.leaseTTL = leaseTTL
        self.leaseRenewal = leaseRenewal
        holder = "\(ProcessInfo.processInfo.hostName):\(getpid()):\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Runs until `shouldStop` returns true; gives the lease up on the way out.
    public func run(shouldStop: () -> Bool) throws(RuntimeError) {
        let layout = try state.requireLayout()
        var control = try ControlStore(layout: layout)
        var topology = try control.requireTopology()
        if let effectConcurrency {
            var failover = topology.failover
            failover.effectConcurrency = effectConcurrency
            topology = topology.with(failover: failover)
        }
        let nodes = try control.nodes()
        let ports = Dictionary(nodes.map { ($0.node, $0.port) }, uniquingKeysWith: { a, _ in a })
        let data = DataNodes(layout: layout)
        let manager: LocalNodeManager
        do {
            manager = LocalNodeManager(binaries: try ServerBinaries.locate(), user: try ServerUser.current(),
                                       dataRoot: layout.dataRoot, passfile: layout.passfile)
        } catch {
            throw RuntimeError(.unavailable, error.description)
        }
        let prober = NodeProber(
            targets: nodes.map { ($0.node, data.settings(port: $0.port, role: .coordinator, connectTimeoutSeconds: 2, applicationName: "residency-probe")) },
            interval: topology.failover.probeInterval, deadline: topology.failover.probeDeadline)
        prober.start()
        defer { prober.stop() }

        let keeper = LeaseKeeper(layout: layout, holder: holder, ttl: leaseTTL, renewal: leaseRenewal, logger: logger)
        keeper.start()
        defer { keeper.stop() }
        let housekeeper = MoveHousekeeper(layout: layout, logger: logger) { keeper.token != nil }
        housekeeper.start()
        defer { housekeeper.stop() }
        let backups = BackupScheduler(state: state, logger: logger, firstRound: firstBackupAfter) { keeper.token != nil }
        backups.start()
        defer { backups.stop() }
        let wake = DispatchSemaphore(value: 0)
        let effects = EffectRunner(
            workers: topology.failover.totalConcurrency, nodes: LocalNodeEffects(manager: manager, data: data, ports: ports, logger: logger),
            logger: logger
        ) { () throws(RuntimeError) in try ControlStore(layout: layout, connectTimeoutSeconds: 2) }
        effects.onFinish = { wake.signal() }
        effects.start()
        defer { effects.stop() }
        Thread.sleep(forTimeInterval: 0.5)  // the keeper's first renewal

        let origin = ContinuousClock.now
        func instant(_ at: ContinuousClock.Instant = .now) -> Instant { Instant(at - origin) }
        var driver = CoordinatorDriver(topology: topology)
        var nextLease = ContinuousClock.now
        var nextPoll = ContinuousClock.now
        var saidWaiting = false
        logger.notice("coordinator \(holder) started", metadata: ["state": "\(state.path)", "effect-concurrency": "\(topology.failover.effectConcurrency)+\(topology.failover.rejoinConcurrency)"])

        while !shouldStop() {
            keeper.loopCheckedIn()
            var inputs = CoordinatorDriver.Inputs()
            if ContinuousClock.now >= nextLease {
                nextLease = ContinuousClock.now + .milliseconds(100)
                let acquired = keeper.token
                if let acquired, acquired != driver.token {
                    do {
                        inputs.lease = .acquired(token: acquired, snapshot: try control.snapshot())
                        saidWaiting = false
                        logger.notice("leading with lease token \(acquired)")
                    } catch {
                        logger.error("cannot load the control state: \(error)")
                        if let reconnected = try? ControlStore(layout: layout) { control = reconnected }
                    }
                } else if acquired == nil, driver.token != nil || !saidWaiting {
                    if driver.token != nil {
                        logger.warning("lost the lease; acting on no node")
                        inputs.lease = .lost
                    }
                    let current = try? control.leaseHolder()
                    logger.notice("waiting: the lease is held by \(current?.holder ?? "another coordinator") until \(current?.expiresAt ?? "?")")
                    saidWaiting = true
                }
            }
            let probes = prober.drain()
            if driver.token != nil || inputs.lease != nil {
                inputs.probes = probes.map { CoordinatorDriver.Probe(node: $0.node, probe: $0.probe, at: instant($0.at)) }
                if ContinuousClock.now >= nextPoll {
                    nextPoll = ContinuousClock.now + .milliseconds(200)
                    if (try? control.heldZones()) == nil, let reconnected = try? ControlStore(layout: layout) {
                        control = reconnected  // the control server restarted, or the connection broke
                    }
                    inputs.heldZones = (try? control.heldZones()).map { Set($0.keys) }
                    inputs.requests = try? control.coordinatorRequests()
                }
            }
            let finished = effects.drain()
            inputs.completions = finished.completions
            let out = driver.step(now: instant(), inputs: inputs)
            for record in out.records {
                logger.notice("\(record.kind): \(record.detail)", metadata: record.shard.map { ["shard": "\($0)"] } ?? [:])
            }
            // What the effects did, then what Core decided on it: one commit.
            let records = finished.records + out.records.map { EventEntry($0) }
            do { try control.appendEvents(records) } catch { logger.error("cannot record \(records.count) event(s): \(error)") }
            for answer in out.answers {
                try? control.answerRequest(answer.request, state: answer.state.rawValue, answer: answer.text)
            }
            if out.leaseLost { logger.warning("a journal write found the lease gone; acting on no node") }
            effects.submit(out.effects)
            _ = wake.wait(timeout: .now() + .milliseconds(20))
        }
        effects.stop()
        keeper.stop()
        Thread.sleep(forTimeInterval: leaseRenewal.inSeconds + 0.1)  // its last renewal
        if let token = driver.token { try? control.releaseLease(token: token) }
        logger.notice("coordinator \(holder) stopped")
    }
}
