import DispatchModel

extension WorkerStateMachine {
    /// Where the worker is in its lifecycle, with exactly the data that stage has.
    ///
    /// The public ``WorkerState`` is derived from it (``WorkerStateMachine/state``): `idle` and `running` are
    /// one phase, ``ready(_:)``, told apart by whether a runner is starting or running, so a worker cannot be
    /// `running` with nothing on it or `idle` with a container.
    enum Phase: Hashable, Sendable {
        /// Listed by the cloud but not created by this process, and no probe has passed yet; runners a previous
        /// dispatcher started may be known from its run probes.
        case unknown(Runners)
        /// Created by this process, and no probe has passed yet: nothing runs on it.
        case booting
        /// Booted: idle when no runner is starting or running, running otherwise.
        case ready(Runners)
        /// Destroy requested, last at `destroyedAt`; the runners known then stay until the instance vanishes.
        case shutdown(destroyedAt: Instant, runners: Runners)
    }

    /// What the pool knows about one runner on the VM.
    struct Runner: Hashable, Sendable {
        /// Where the runner is in its own life.
        enum Stage: Hashable, Sendable {
            /// `--detach` is in flight.
            case starting
            /// The last probe or start confirmed it.
            case running
            /// Its container was reported Complete at the given instant: it finalized it and exits by itself,
            /// so it no longer counts against the worker's capacity.
            case finishing(since: Instant)
        }

        /// A kill in progress.
        struct Kill: Hashable, Sendable {
            /// When the first SIGTERM was sent.
            var requestedAt: Instant
            /// Why the kill was requested.
            var reason: String
            /// SIGTERM went unanswered for `TimeoutTERM`: the pool has given up on this runner.
            var givenUp = false
        }

        var stage: Stage
        /// The kill in progress, once one has been requested.
        var kill: Kill?

        init(_ stage: Stage, kill: Kill? = nil) {
            self.stage = stage
            self.kill = kill
        }

        /// When the first SIGTERM was sent, once a kill has been requested.
        var killRequestedAt: Instant? { self.kill?.requestedAt }
        /// Whether the pool has given up on this runner.
        var givenUp: Bool { self.kill?.givenUp ?? false }
        /// When the container was reported Complete, for a finishing runner.
        var finishedAt: Instant? {
            if case .finishing(let since) = self.stage { since } else { nil }
        }
        /// Starting or running: the runner counts against the worker's capacity.
        var isActive: Bool {
            if case .finishing = self.stage { false } else { true }
        }
    }

    /// The runners on one worker, each in exactly one ``Runner/Stage``.
    struct Runners: Hashable, Sendable {
        private(set) var byUUID: [ContainerUUID: Runner] = [:]
        /// How many runners are starting or running.
        private(set) var activeCount = 0

        init() {}

        /// Runners `running` in stage `.running` and `starting` in stage `.starting`.
        init(running: [ContainerUUID], starting: [ContainerUUID] = []) {
            for uuid in running { self[uuid] = Runner(.running) }
            for uuid in starting { self[uuid] = Runner(.starting) }
        }

        /// `list` with each container that has a runner here named by the runner's own copy of its UUID: equal text,
        /// one string, so the comparisons of later probes that reuse the listing see the same reference.
        func sharingUUIDs(_ list: RunnerList) -> RunnerList {
            var list = list
            for i in list.running.indices {
                if let index = self.byUUID.index(forKey: list.running[i]) { list.running[i] = self.byUUID[index].key }
            }
            return list
        }

        subscript(uuid: ContainerUUID) -> Runner? {
            get { self.byUUID[uuid] }
            set {
                let old =
                    if let newValue { self.byUUID.updateValue(newValue, forKey: uuid) } else {
                        self.byUUID.removeValue(forKey: uuid)
                    }
                if old?.isActive == true { self.activeCount -= 1 }
                if newValue?.isActive == true { self.activeCount += 1 }
            }
        }

        /// Whether any runner is starting or running.
        var hasActive: Bool { self.activeCount > 0 }

        /// The runners in `stage` (any `.finishing` for a finishing stage).
        func inStage(_ stage: Runner.Stage) -> [ContainerUUID: Runner] {
            self.byUUID.filter { Self.sameStage($0.value.stage, stage) }
        }

        /// Whether any runner is in `stage` (any `.finishing` for a finishing stage).
        func contains(stage: Runner.Stage) -> Bool {
            self.byUUID.values.contains { Self.sameStage($0.stage, stage) }
        }

        private static func sameStage(_ lhs: Runner.Stage, _ rhs: Runner.Stage) -> Bool {
            switch (lhs, rhs) {
            case (.starting, .starting), (.running, .running), (.finishing, .finishing): true
            default: false
            }
        }
    }
}
