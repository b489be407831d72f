import ResidencyCore
import Synchronization

/// Many simulated months of one topology (`residency simulate sla`): zones fail and are
/// repaired at random (exponential times between failures and to repair, per zone), the
/// leading coordinator dies at random, and each run is a full `Simulation` without clients,
/// whose clock jumps over the quiet time between faults and runs every probe, decision and
/// effect around each one. Each shard's outages become downtime minutes per calendar month
/// (the minute rule of `Uptime`); all shard-months of all runs make one `SLAForecast`.
public struct SLASimulation: Sendable {
    public struct Settings: Sendable {
        public var months = 12
        public var runs = 1_000
        public var firstSeed: UInt64 = 1
        /// Mean time between failures of one zone (power loss of all its nodes).
        public var zoneMTBFHours = 24.0 * 90
        /// Mean time to repair a failed zone.
        public var zoneMTTRMinutes = 60.0
        /// Mean time between crashes of the leading coordinator (0: never).
        public var coordinatorMTBFHours = 24.0 * 30
        /// The first simulated month (its length matters: months have 28 to 31 days).
        public var start = CalendarMonth(year: 2027, month: 1)!
        /// Runs side by side.
        public var jobs = 1
        /// Every simulated effect duration is multiplied by it (`--calibrate-from`).
        public var effectScale = 1.0
        /// Residency moves per month (Poisson), each between shards of two regions a realm
        /// allows, decided by Core's move driver while the faults come.
        public var movesPerMonth = 0.0

        public init() {}
    }

    /// One run's figures.
    public struct Run: Sendable, Codable, Equatable {
        public let seed: UInt64
        public let zoneFaults: Int
        public let coordinatorCrashes: Int
        public let events: Int
        public let jumps: Int
        public let promotions: Int
        /// Moves run, switched, and each one's write fence (ms).
        public let moves: Int
        public let movesSwitched: Int
        public let moveFreezes: [Int]
        /// Per shard (topology order), per month: downtime minutes.
        public let downtimeMinutes: [[Int]]
        public let violations: [String]
    }

    public struct Outcome: Sendable, Codable, Equatable {
        public var version = 1
        public let months: [String]
        public let runs: Int
        public let shards: Int
        public let nodes: Int
        public let zoneMTBFHours: Double
        public let zoneMTTRMinutes: Double
        public let coordinatorMTBFHours: Double
        public let effectScale: Double
        public let events: Int
        public let jumps: Int
        public let zoneFaults: Int
        public let coordinatorCrashes: Int
        public let promotions: Int
        public let movesPerMonth: Double
        public let moves: Int
        public let movesSwitched: Int
        /// A moving tenant's write fence (from its freeze to writable again): median and max, ms.
        public let moveFreezeMedianMilliseconds: Int?
        public let moveFreezeMaxMilliseconds: Int?
        public let failedSeeds: [UInt64]
        public let violations: [String]
        public let forecast: SLAForecast
        /// Where `effectScale` came from, when calibrated against real drills.
        public var calibration: Calibration?
    }

    /// Step durations fitted to real drills (`simulate sla --calibrate-from`).
    public struct Calibration: Sendable, Codable, Equatable {
        /// The median RTO of the drills' power losses, and how many shard recoveries it is of.
        public let realMedianMilliseconds: Double
        public let recoveries: Int
        /// The simulated median at the fitted scale.
        public let simulatedMedianMilliseconds: Double

        public init(realMedianMilliseconds: Double, recoveries: Int, simulatedMedianMilliseconds: Double) {
            self.realMedianMilliseconds = realMedianMilliseconds
            self.recoveries = recoveries
            self.simulatedMedianMilliseconds = simulatedMedianMilliseconds
        }
    }

    let topology: Topology
    let settings: Settings

    public init(topology: Topology, settings: Settings) {
        self.topology = topology
        self.settings = settings
    }

    public var months: [CalendarMonth] {
        var months: [CalendarMonth] = []
        var month = settings.start
        for _ in 0..<settings.months {
            months.append(month)
            month = month.month == 12 ? CalendarMonth(year: month.year + 1, month: 1)! : CalendarMonth(year: month.year, month: month.month + 1)!
        }
        return months
    }

    /// The faults of one run: per zone, alternating up and down times; coordinator crashes
    /// as a Poisson process. Sorted by time.
    func schedule(seed: UInt64, lengthMilliseconds: Int) -> [Simulation.Fault] {
        var random = SeededRandom(seed: seed ^ 0x5EED_5A1A)
        var faults: [Simulation.Fault] = []
        let mtbf = settings.zoneMTBFHours * 3_600_000
        let mttr = settings.zoneMTTRMinutes * 60_000
        for zone in topology.regions.flatMap(\.zones) {
            var at = random.exponential(mean: mtbf)
            while at < Double(lengthMilliseconds) {
                let down = max(1_000, random.exponential(mean: mttr))
                faults.append(.init(kind: .powerLoss, zone: zone, atMilliseconds: Int(at), forMilliseconds: Int(down)))
                at += down + random.exponential(mean: mtbf)
            }
        }
        if settings.coordinatorMTBFHours > 0 {
            var at = random.exponential(mean: settings.coordinatorMTBFHours * 3_600_000)
            while at < Double(lengthMilliseconds) {
                faults.append(.init(kind: .coordinatorCrash, zone: ZoneID("coordinator"), atMilliseconds: Int(at), forMilliseconds: 0))
                at += random.exponential(mean: settings.coordinatorMTBFHours * 3_600_000)
            }
        }
        return faults.sorted { ($0.atMilliseconds, $0.zone) < ($1.atMilliseconds, $1.zone) }
    }

    /// The moves of one run: a Poisson process of `movesPerMonth` (30-day months), each from
    /// a shard drawn among those a realm lets a tenant leave for another region, to one of
    /// those targets.
    func moveOrders(seed: UInt64, lengthMilliseconds: Int) -> [Simulation.MoveOrder] {
        guard settings.movesPerMonth > 0 else { return [] }
        var random = SeededRandom(seed: seed ^ 0x3001_E5A1A)
        let pairs = SimulatedMove.pairs(topology)
        guard !pairs.isEmpty else { return [] }
        var orders: [Simulation.MoveOrder] = []
        let mean = 30 * 86_400_000 / settings.movesPerMonth
        var at = random.exponential(mean: mean)
        while at < Double(lengthMilliseconds - 60_000) {
            let (from, to) = pairs[random.below(pairs.count)]
            orders.append(.init(from: from, to: to, atMilliseconds: Int(at)))
            at += random.exponential(mean: mean)
        }
        return orders
    }

    public func run(seed: UInt64) -> Run {
        let months = months
        let start = months[0].startUnixMilliseconds
        let length = Int(months.last!.endUnixMilliseconds - start)
        var simulation = Simulation.Settings()
        simulation.clients = false
        simulation.holdZones = false
        simulation.duration = .milliseconds(length)
        simulation.effectScale = settings.effectScale
        let faults = schedule(seed: seed, lengthMilliseconds: length)
        simulation.schedule = faults
        simulation.moves = moveOrders(seed: seed, lengthMilliseconds: length)
        let result = Simulation(topology: topology, seed: seed, settings: simulation).run()
        var outages: [String: [(from: Int64, to: Int64)]] = [:]
        for outage in result.outages {
            outages[outage.shard, default: []].append((start + Int64(outage.fromMilliseconds), start + Int64(outage.toMilliseconds)))
        }
        return Run(
            seed: seed,
            zoneFaults: faults.filter { $0.kind == .powerLoss }.count,
            coordinatorCrashes: faults.filter { $0.kind == .coordinatorCrash }.count,
            events: result.events, jumps: result.jumps, promotions: result.promotions,
            moves: result.moves.count, movesSwitched: result.moves.filter { $0.phases.last == MovePhase.retained.rawValue }.count,
            moveFreezes: result.moves.compactMap(\.freezeMilliseconds),
            downtimeMinutes: topology.shards.map { Uptime.downtimeMinutes(outages: outages[$0.id.rawValue] ?? [], months: months) },
            violations: result.violations)
    }

    /// Every run (seeds `firstSeed`, `firstSeed + 1`, ...), `jobs` at a time; `progress` is
    /// told the number of finished runs after each. The outcome does not depend on `jobs`.
    public func runAll(progress: (@Sendable (Int) -> Void)? = nil) -> Outcome {
        let finished = Atomic<Int>(0)
        let seeds = (0..<settings.runs).map { settings.firstSeed &+ UInt64($0) }
        let runs = parallelMap(seeds, jobs: settings.jobs) { seed in
            let run = self.run(seed: seed)
            progress?(finished.add(1, ordering: .relaxed).newValue)
            return run
        }
        return outcome(runs)
    }

    func outcome(_ runs: [Run]) -> Outcome {
        let months = months
        var samples: [(downtimeMinutes: Int, monthMinutes: Int)] = []
        for run in runs {
            for shard in run.downtimeMinutes {
                for (index, minutes) in shard.enumerated() { samples.append((minutes, months[index].minutes)) }
            }
        }
        let failed = runs.filter { !$0.violations.isEmpty }
        let freezes = runs.flatMap(\.moveFreezes).sorted()
        return Outcome(
            months: months.map(\.description), runs: runs.count, shards: topology.shards.count, nodes: topology.nodes.count,
            zoneMTBFHours: settings.zoneMTBFHours, zoneMTTRMinutes: settings.zoneMTTRMinutes,
            coordinatorMTBFHours: settings.coordinatorMTBFHours, effectScale: settings.effectScale,
            events: runs.reduce(0) { $0 + $1.events }, jumps: runs.reduce(0) { $0 + $1.jumps },
            zoneFaults: runs.reduce(0) { $0 + $1.zoneFaults }, coordinatorCrashes: runs.reduce(0) { $0 + $1.coordinatorCrashes },
            promotions: runs.reduce(0) { $0 + $1.promotions },
            movesPerMonth: settings.movesPerMonth, moves: runs.reduce(0) { $0 + $1.moves }, movesSwitched: runs.reduce(0) { $0 + $1.movesSwitched },
            moveFreezeMedianMilliseconds: freezes.isEmpty ? nil : freezes[(freezes.count - 1) / 2], moveFreezeMaxMilliseconds: freezes.last,
            failedSeeds: failed.map(\.seed), violations: Array(failed.flatMap { run in run.violations.map { "seed \(run.seed): \($0)" } }.prefix(20)),
            forecast: SLAForecast(samples: samples, serviceLevels: topology.serviceLevels))
    }
}

extension SLASimulation {
    /// The median simulated RTO of a zone power loss striking the zone of the first shard's
    /// primary, over `seeds` runs with clients writing, at effect durations x `scale` (ms).
    public static func medianPowerLossRTO(topology: Topology, scale: Double, seeds: Int = 15) -> Double? {
        guard let zone = topology.shards.first?.primaryZone else { return nil }
        var settings = Simulation.Settings()
        settings.duration = .seconds(30)
        settings.effectScale = scale
        settings.schedule = [.init(kind: .powerLoss, zone: zone, atMilliseconds: 5_000, forMilliseconds: 8_000)]
        var rtos: [Int] = []
        for seed in 1...UInt64(max(1, seeds)) {
            rtos += Simulation(topology: topology, seed: seed, settings: settings).run().recoveries.compactMap(\.rtoMilliseconds)
        }
        guard !rtos.isEmpty else { return nil }
        rtos.sort()
        return Double(rtos[(rtos.count - 1) / 2])
    }

    /// The effect scale whose simulated power-loss RTO median matches `target` ms (measured
    /// by real drills): detection does not scale, the steps do; interpolated between two
    /// scales and clamped to 0.05...20. Returns the scale and the median it gives.
    public static func calibratedEffectScale(topology: Topology, targetMedianMilliseconds target: Double) -> (scale: Double, median: Double)? {
        guard let low = medianPowerLossRTO(topology: topology, scale: 0.05), let high = medianPowerLossRTO(topology: topology, scale: 1) else { return nil }
        let scale = high > low ? min(20, max(0.05, 0.05 + 0.95 * (target - low) / (high - low))) : 1
        guard let median = medianPowerLossRTO(topology: topology, scale: scale) else { return nil }
        return (scale, median)
    }
}
