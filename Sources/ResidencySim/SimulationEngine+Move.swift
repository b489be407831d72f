import ResidencyCore

/// The run's residency move: `MoveDriver`'s actions carried out on the simulated shards
/// (what `MoveExecutor` does against PostgreSQL), each step after a drawn duration, its
/// outcome reported back to the driver.
extension SimulationEngine {
    /// The shard's primary as the executor reaches it: the one the journal records, when
    /// it runs and the coordinator's side of the network reaches it.
    func movePrimary(_ shard: Int) -> Int? {
        guard let primary = recordedPrimary[shard], shards.coordinatorReaches(primary), shards[primary].isPrimary else { return nil }
        return primary
    }

    /// Move `number`'s tenant writes one row where the catalogue routes it; a fenced source refuses it.
    mutating func tenantWrite(_ number: Int) {
        var current = moves[number]
        let shard = current.routed
        guard !(shard == current.source && current.frozen), let primary = shards.writable(shard, recorded: recordedPrimary[shard]) else {
            result.unacknowledged += 1
            return
        }
        let row = current.nextRow
        current.nextRow += 1
        let record = shards.append(on: primary)
        if shard == current.source {
            current.sourceRows.append(.init(row: row, record: record))
        } else {
            current.targetRows.append(.init(row: row, record: record))
        }
        moves[number] = current
        waiting[shard].append((record, primary, now, (number, row)))
        queue.push(now + 1 + random.below(4), .replicate(shard))
    }

    /// Feeds move `number`'s driver an event and carries out what it answers.
    mutating func feedMove(_ event: MoveDriver.Event, move number: Int) {
        guard !moves[number].finished else { return }
        let actions = moves[number].driver.handle(event, now: instant)
        carryOut(actions, move: number)
    }

    /// Carries out the driver's actions in order; an observation answers at once.
    mutating func carryOut(_ actions: [MoveDriver.Action], move number: Int) {
        var pending = actions[...]
        while let action = pending.popFirst() {
            var current = moves[number]
            switch action {
            case let .observe(primaries):
                let observation = MoveDriver.Observation(
                    controlClockMilliseconds: Int64(now), sourceEpoch: journal.epoch(of: shards.shardIDs[current.source]),
                    targetEpoch: journal.epoch(of: shards.shardIDs[current.target]),
                    primariesAnswer: primaries ? movePrimary(current.source) != nil && movePrimary(current.target) != nil : nil)
                pending = current.driver.handle(.observed(observation), now: instant)[...] + pending
                moves[number] = current
            case let .run(step):
                queue.push(now + moveStepDuration(step), .moveStepDone(number, step))
            case let .enter(phase, _), let .reached(phase):
                current.phases.append(phase)
                moves[number] = current
                // The first time the move journals the phase (it may journal it again: verified after a re-verification).
                if let armed = settings.moveFault, armed.phase == phase, current.phases.filter({ $0 == phase }).count == 1 {
                    strikeAtMovePhase(armed, move: number)
                }
            case let .wait(until):
                queue.push(max(now, Int(until.sinceOrigin.inMilliseconds)), .moveWoke(number))
            case .finished:
                current.finished = true
                moves[number] = current
            case .recordEpochs, .journalReason, .progress, .note:
                break
            }
        }
    }

    /// How long a step takes (ms): the copy and verification longest.
    mutating func moveStepDuration(_ step: MoveDriver.Step) -> Int {
        switch step {
        case .copy: 200 + random.below(600)
        case .verify, .preCheck: 20 + random.below(80)
        case .marker: 5 + random.below(30)
        default: 5 + random.below(40)
        }
    }

    /// A step ends: its effect on the shards, and what the driver hears.
    mutating func moveStepDone(_ step: MoveDriver.Step, move number: Int) {
        var current = moves[number]
        let source = movePrimary(current.source)
        let target = movePrimary(current.target)
        let unavailable = MoveDriver.Event.stepFailed(step, .unavailable("a primary of the move does not answer"))
        var event: MoveDriver.Event = .stepSucceeded(step)
        switch step {
        case .prepare, .startTracking, .preCheck, .cleanup:
            if source == nil || target == nil { event = unavailable }
        case .copy:
            if let source, let target {
                current.applied = 0
                apply(&current, from: source, to: target)
                current.subscribed = true
            } else {
                event = unavailable
            }
        case .pollCopy:
            event = .copyPolled(done: true, errors: 0)
        case .marker:
            if let source, let target {
                apply(&current, from: source, to: target)
                event = .markerArrived(roundTrip: .milliseconds(5 + random.below(30)), sample: nil)
            } else {
                event = unavailable
            }
        case .freeze:
            if source != nil, target != nil {
                current.frozen = true
                current.frozenAt = current.frozenAt ?? now
            } else {
                event = unavailable
            }
        case .verify:
            if let source, let target {
                if settings.broken != .switchBeforeVerification {
                    apply(&current, from: source, to: target)
                    let onSource = Set(SimulatedMove.visible(current.sourceRows, on: source, shards: shards))
                    let onTarget = SimulatedMove.visible(current.targetRows, on: target, shards: shards)
                    if onSource != Set(onTarget) || onTarget.count != Set(onTarget).count {
                        event = .stepFailed(step, .verificationDiffers("\(onSource.count) rows on the source, \(onTarget.count) on the target"))
                    }
                }
            } else {
                event = unavailable
            }
        case .switchOver:
            if target != nil {
                current.routedToTarget = true
                current.writableAgainAt = current.writableAgainAt ?? now
            } else {
                event = unavailable
            }
        case .undo:
            current.targetRows = []
            current.applied = 0
            current.subscribed = false
            current.routedToTarget = false
            if current.frozen { current.writableAgainAt = current.writableAgainAt ?? now }
            current.frozen = false
        case .checkSubscription:
            event = .subscriptionChecked(survived: target != nil && current.subscribed ? true : nil)
        }
        moves[number] = current
        checker.moveRouting(routedToTarget: current.routedToTarget, sourceFenced: current.frozen, now: now)
        feedMove(event, move: number)
    }

    /// The subscription: every source row on the source primary's timeline not applied yet
    /// is written on the target primary (and replicated there), in commit order.
    mutating func apply(_ current: inout SimulatedMove, from source: Int, to target: Int) {
        let tip = shards[source].tip
        while current.applied < current.sourceRows.count {
            let row = current.sourceRows[current.applied]
            current.applied += 1
            guard shards.records.isAncestor(row.record, of: tip) else { continue }
            current.targetRows.append(.init(row: row.row, record: shards.append(on: target)))
        }
        shards.replicate(current.target, now: now)
    }

    /// `Settings.moveFault`: the zone of the source's (or target's) primary loses power now.
    mutating func strikeAtMovePhase(_ armed: Simulation.MoveFault, move number: Int) {
        let current = moves[number]
        guard let primary = recordedPrimary[armed.onTarget ? current.target : current.source] else { return }
        let index = result.faults.count
        let length = armed.healAtMilliseconds.map { max(1_000, $0 - now) } ?? armed.forMilliseconds
        result.faults.append(.init(kind: armed.kind, zone: shards[primary].id.zone, atMilliseconds: now, forMilliseconds: length))
        start(index)
        queue.push(now + length, .moveFaultEnds(index))
    }

    /// The moves' checks at the end of the run, and their figures.
    mutating func finishMoves() {
        for current in moves {
            let shard = current.routed
            let visible = SimulatedMove.visible(current.routedToTarget ? current.targetRows : current.sourceRows,
                                                on: recordedPrimary[shard], shards: shards)
            checker.moveEnded(acknowledged: current.acknowledged, visible: visible, shard: shards.shardIDs[shard], finished: current.finished,
                              phase: current.driver.phase, end: now)
            let expect = current.expect
            if current.finished, expect != .ended, (expect == .done) != current.routedToTarget {
                checker.report(now, "the move ended \(current.driver.phase.rawValue), expected \(expect.rawValue)")
            }
            result.moves.append(.init(phases: current.phases.map(\.rawValue), acknowledgedRows: current.acknowledged.count, rowsWhereRouted: visible.count,
                                      routedTo: shards.shardIDs[shard].rawValue,
                                      freezeMilliseconds: current.frozenAt.flatMap { from in current.writableAgainAt.map { $0 - from } }))
        }
    }
}
