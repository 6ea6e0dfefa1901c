public import DispatchModel

/// Why a waiting container does not start now, and the smallest change that would let it, worked out from
/// the planner's own view: its last status for the container, the container's needs and eligible types, the
/// configured menu and the pool's holds.
public struct WhatIf: Hashable, Sendable {
    /// What stops the container now.
    public var reason: String
    /// The smallest change that would let it start, if one is known.
    public var change: String?

    public init(reason: String, change: String?) {
        self.reason = reason
        self.change = change
    }

    /// What the rules read besides the container.
    public struct Context: Sendable {
        /// Every configured instance type.
        public var menu: [InstanceType]
        /// The pool as the last pass saw it (capacity holds, instance count).
        public var pool: PoolSnapshot
        /// When each held type's capacity hold ends, where known.
        public var capacityHeldUntil: [InstanceTypeName: Timestamp]
        /// Quarantined types and when their quarantine ends.
        public var quarantinedUntil: [InstanceTypeName: Timestamp]
        /// The dynamic container limit; 0 for none.
        public var maxContainers: Int

        public init(
            menu: [InstanceType],
            pool: PoolSnapshot,
            capacityHeldUntil: [InstanceTypeName: Timestamp] = [:],
            quarantinedUntil: [InstanceTypeName: Timestamp] = [:],
            maxContainers: Int = 0
        ) {
            self.menu = menu
            self.pool = pool
            self.capacityHeldUntil = capacityHeldUntil
            self.quarantinedUntil = quarantinedUntil
            self.maxContainers = maxContainers
        }
    }

    /// The what-if for a container the planner left waiting with `status`; `nil` when it is not waiting
    /// (running, starting, or not in the queue).
    public static func evaluate(entry: QueueEntry, status: SchedulingStatus?, context: Context) -> WhatIf? {
        let need = entry.resources
        if entry.instanceTypes.isEmpty {
            return Self.tooBig(need, menu: context.menu)
        }
        var result: WhatIf?
        switch status {
        case nil, .preparingRuntimeEnvironment:
            result = nil
        case .priorityZero:
            result = WhatIf(reason: "priority is 0", change: "a priority above 0 would schedule it")
        case .waitingForPreviousAttempt:
            result = WhatIf(
                reason: "a runner from an earlier attempt has not exited yet",
                change: "it starts once that runner is gone (the dispatcher is killing it)"
            )
        case .waitingForNewInstance(let type):
            result = WhatIf(
                reason: "allocated to a \(type) instance being created or booting",
                change: "it starts once that instance passes its boot probe"
            )
        case .supervisorLimitReached(let position):
            result = WhatIf(
                reason: "position \(position) among workflow supervisors over the SupervisorFraction limit",
                change: "\(position) fewer supervisors running, or a larger Containers.CloudVMs.SupervisorFraction"
            )
        case .waitingForMaxInstances(let position, let limit):
            result = WhatIf(
                reason: "position \(position); MaxInstances \(limit) reached",
                change: "at \(limit + position) it would start now"
            )
        case .waitingForCloudResources(let position):
            let instances = context.pool.instances.count
            result = WhatIf(
                reason: "position \(position); the cloud account's quota holds creates at \(instances) instances",
                change: "a quota of \(instances + position) instances would start it now"
            )
        case .waitingForClusterCapacity(let position):
            let limit = context.maxContainers
            result = WhatIf(
                reason: "position \(position); the dispatcher's container limit"
                    + (limit > 0 ? " (\(limit), lowered after API 503 answers)" : "") + " is reached",
                change: limit > 0
                    ? "the limit grows again once the API stops answering 503; at \(limit + position) it would start now"
                    : nil
            )
        case .waitingForInstanceType(let position, _):
            result = Self.capacity(entry, position: position, context: context)
        case .waitingForHourlySpendCap(let position, let cap):
            result = WhatIf(
                reason: "position \(position); DispatchCloud.MaxHourlySpend \(SchedulingStatus.dollars(cap)) reached",
                change: "a higher MaxHourlySpend, or instances shutting down, would start it"
            )
        case .waitingForDailySpendCap(let position, let cap):
            result = WhatIf(
                reason: "position \(position); DispatchCloud.MaxSpendPerDay \(SchedulingStatus.dollars(cap)) "
                    + "cannot pay for another instance for an hour",
                change: "a higher MaxSpendPerDay, or money leaving the 24-hour window, would start it"
            )
        }
        if var quarantined = Self.quarantineNote(entry, context: context) {
            if let result { quarantined.reason = result.reason + "; " + quarantined.reason }
            if quarantined.change == nil { quarantined.change = result?.change }
            return quarantined
        }
        return result
    }

    /// No configured type is big enough: name the first resource none offers, with the largest figure.
    static func tooBig(_ need: InstanceResources, menu: [InstanceType]) -> WhatIf {
        guard !menu.isEmpty else {
            return WhatIf(reason: "no instance type is configured", change: "configure InstanceTypes")
        }
        let maxRAM = menu.map(\.ram).max()!
        let maxVCPUs = menu.map(\.vcpus).max()!
        let maxScratch = menu.map(\.scratch).max()!
        let maxGPUs = menu.map(\.gpu.deviceCount).max()!
        if need.ram > maxRAM {
            return WhatIf(
                reason: "needs \(need.ram) RAM; the largest type offers \(maxRAM)",
                change: "an instance type with at least \(need.ram) RAM"
            )
        }
        if need.vcpus > maxVCPUs {
            return WhatIf(
                reason: "needs \(need.vcpus) VCPUs; the largest type offers \(maxVCPUs)",
                change: "an instance type with at least \(need.vcpus) VCPUs"
            )
        }
        if need.scratch > maxScratch {
            return WhatIf(
                reason: "needs \(need.scratch) scratch space; the largest type offers \(maxScratch)",
                change: "an instance type with at least \(need.scratch) scratch space"
            )
        }
        if need.gpus > maxGPUs {
            return WhatIf(
                reason: "needs \(need.gpus) GPUs; the largest type offers \(maxGPUs)",
                change: "an instance type with at least \(need.gpus) GPUs"
            )
        }
        return WhatIf(
            reason: "no single instance type offers all it needs together "
                + "(\(need.vcpus) VCPUs, \(need.ram) RAM, \(need.scratch) scratch)",
            change: "an instance type with all of these"
        )
    }

    /// Every eligible type is held by a capacity error: say until when, and what an on-demand (or any other
    /// type not held) would cost more.
    static func capacity(_ entry: QueueEntry, position: Int, context: Context) -> WhatIf {
        let held = entry.instanceTypes.filter { context.pool.isAtCapacity($0) }
        let cheapest = held.first ?? entry.instanceTypes[0]
        let until = context.capacityHeldUntil[cheapest.name].map { " until \($0.rfc3339)" } ?? ""
        let kind = cheapest.preemptible ? "spot capacity" : "capacity"
        let reason = "position \(position); \(kind) held for \(cheapest.name)\(until)"
        // The cheapest type that fits and is not held: the same machine on demand first, else anything.
        let fits = context.menu.filter { type in
            type.capacity.vcpus >= entry.resources.vcpus && type.ram >= entry.resources.ram
                && type.scratch >= entry.resources.scratch && type.gpu.deviceCount >= entry.resources.gpus
                && !context.pool.isAtCapacity(type) && context.quarantinedUntil[type.name] == nil
        }
        let onDemand =
            cheapest.preemptible
            ? fits.filter { !$0.preemptible && $0.providerType == cheapest.providerType }.min { $0.price < $1.price }
            : nil
        guard let alternative = onDemand ?? fits.min(by: { $0.price < $1.price }) else {
            return WhatIf(reason: reason, change: "it starts when the cloud has capacity again")
        }
        let more = alternative.price - cheapest.price
        let price = more >= 0 ? "$\(Self.money(more))/h more" : "$\(Self.money(-more))/h less"
        let what = onDemand != nil ? "on-demand (\(alternative.name))" : alternative.name.rawValue
        return WhatIf(reason: reason, change: "\(what) would start now at \(price)")
    }

    /// A note when eligible types are quarantined: which, until when, and what is used meanwhile.
    static func quarantineNote(_ entry: QueueEntry, context: Context) -> WhatIf? {
        let quarantined = entry.instanceTypes.filter { context.quarantinedUntil[$0.name] != nil }
        guard !quarantined.isEmpty else { return nil }
        let names = quarantined.map { "\($0.name) until \(context.quarantinedUntil[$0.name]!.rfc3339)" }
        let next = entry.instanceTypes.first { context.quarantinedUntil[$0.name] == nil }
        return WhatIf(
            reason: "quarantined after failed boots: " + names.joined(separator: ", ")
                + (next.map { "; using \($0.name) meanwhile" } ?? "; no other eligible type"),
            change: next == nil ? "lifting the quarantine (dispatch-cloud quarantine lift TYPE)" : nil
        )
    }

    static func money(_ value: Double) -> String {
        let cents = (value * 100).rounded()
        let whole = Int(cents / 100)
        let fraction = Int(cents.truncatingRemainder(dividingBy: 100))
        return "\(whole)." + (fraction < 10 ? "0" : "") + "\(fraction)"
    }
}
