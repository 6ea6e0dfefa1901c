import DispatchModel

/// The rules of the Arvados container lifecycle, as pure functions of the stored container, the caller and the
/// request.
///
/// Every function either returns the container to store or throws the error to answer with; none touches storage,
/// so the whole state machine is tested as tables.
enum ContainerRules {
    /// The attributes of `schemas.Container` in Arvados's discovery document, in its order.
    static let fields: [String] = [
        "etag", "uuid", "owner_uuid", "created_at", "modified_at", "modified_by_user_uuid", "state", "started_at",
        "finished_at", "log", "environment", "cwd", "command", "output_path", "mounts", "runtime_constraints",
        "output", "container_image", "progress", "priority", "exit_code", "auth_uuid", "locked_by_uuid",
        "scheduling_parameters", "runtime_status", "runtime_user_uuid", "runtime_auth_scopes", "lock_count",
        "gateway_address", "interactive_session_started", "output_storage_classes", "output_properties", "cost",
        "subrequests_cost", "output_glob", "service", "published_ports",
    ]
    static let fieldSet = Set(Self.fields)

    /// The attributes a create request may set; the server sets the rest.
    static let creatableFields: Set<String> = [
        "owner_uuid", "state", "command", "container_image", "cwd", "environment", "mounts", "output_path",
        "priority", "runtime_constraints", "scheduling_parameters", "output_storage_classes", "output_glob",
        "output_properties", "service", "published_ports", "runtime_user_uuid", "runtime_auth_scopes",
    ]

    /// The attributes that a runner (the lock holder) reports while it runs a container.
    static let runtimeFields: Set<String> = [
        "progress", "runtime_status", "log", "output", "gateway_address", "interactive_session_started", "cost",
        "subrequests_cost", "output_properties",
    ]

    /// The largest priority Arvados accepts.
    static let maxPriority: Int64 = 1000

    /// Whether `caller` may see `container` at all; others get 404, as if it did not exist.
    static func canSee(_ container: Container, caller: Caller) -> Bool {
        caller.isAdmin || container.ownerUUID == caller.userUUID
            || (container.lockedByUUID != nil && container.lockedByUUID == caller.tokenUUID)
    }

    /// The attributes an update may change while moving a container from `from` to `to`, or `nil` if Arvados
    /// does not allow that update at all.
    ///
    /// Queued ⇄ Locked is not an update: it goes through ``lock(_:by:now:)`` and
    /// ``unlock(_:by:maxDispatchAttempts:now:)``.
    static func permittedFields(from: ContainerState, to: ContainerState) -> Set<String>? {
        switch (from, to) {
        case (.queued, .queued):
            ["priority"]
        case (.locked, .locked):
            // The dispatcher records why it cannot run a container (runtime_status.error) before cancelling it.
            ["priority", "runtime_status", "log"]
        case (.locked, .running), (.running, .running):
            Self.runtimeFields.union(["state", "priority"])
        case (.running, .complete):
            Self.runtimeFields.union(["state", "priority", "exit_code"])
        case (.running, .cancelled):
            Self.runtimeFields.union(["state", "priority"])
        case (.queued, .cancelled), (.locked, .cancelled):
            ["state", "priority", "log", "runtime_status"]
        default:
            nil
        }
    }

    /// Builds a new Queued container from the attributes of a create request.
    static func makeContainer(
        attributes: [String: JSONValue],
        uuid: ContainerUUID,
        caller: Caller,
        now: Timestamp
    ) throws(ContainerAPIError) -> Container {
        for (key, value) in attributes.sorted(by: { $0.key < $1.key }) {
            if key == "kind" { continue }
            guard Self.fieldSet.contains(key) else {
                throw ContainerAPIError(.unprocessable, "Unknown attribute '\(key)' for a container")
            }
            guard Self.creatableFields.contains(key) || value.isNull else {
                throw ContainerAPIError(.unprocessable, "Attribute '\(key)' cannot be set when creating a container")
            }
        }
        if let state = attributes["state"], !state.isNull, state != .string(ContainerState.queued.rawValue) {
            throw ContainerAPIError(
                .unprocessable,
                "A new container must be in state Queued, not \(WireJSON.string(state))"
            )
        }
        if let owner = attributes["owner_uuid"], !owner.isNull, owner != .string(caller.userUUID), !caller.isAdmin {
            throw ContainerAPIError(.forbidden, "Cannot create a container owned by another user")
        }
        try Self.validate(attributes)
        var container = try Self.decodeContainer(attributes.filter { !$0.value.isNull })
        guard !container.command.isEmpty else {
            throw ContainerAPIError(.unprocessable, "command can't be blank")
        }
        guard !container.containerImage.isEmpty else {
            throw ContainerAPIError(.unprocessable, "container_image can't be blank")
        }
        guard !container.outputPath.isEmpty else {
            throw ContainerAPIError(.unprocessable, "output_path can't be blank")
        }
        guard container.runtimeConstraints.vcpus > 0 else {
            throw ContainerAPIError(.unprocessable, "runtime_constraints.vcpus must be a positive integer")
        }
        guard container.runtimeConstraints.ram > 0 else {
            throw ContainerAPIError(.unprocessable, "runtime_constraints.ram must be a positive integer")
        }
        try Self.checkAdmissible(container)
        if container.cwd.isEmpty {
            container.cwd = "."
        }
        container.uuid = uuid
        container.ownerUUID = container.ownerUUID ?? caller.userUUID
        container.state = .queued
        container.createdAt = now
        container.modifiedAt = now
        container.modifiedByUserUUID = caller.userUUID
        return container
    }

    /// Applies the attributes of an update request to `current`.
    ///
    /// Attributes given with their current value are ignored, as Arvados does, so a client may send back a whole
    /// record. Locked and Running containers change only through their lock holder, except for `priority`, which
    /// the owner and the admin may always change.
    ///
    /// `document` is `current`'s stored JSON (``StoredContainer/document``) when the caller has it: read back, it is
    /// the attributes ``object(_:)`` would encode again (and `kind`, which no patch changes), at a fraction of the cost.
    static func update(
        _ current: Container,
        with patch: [String: JSONValue],
        by caller: Caller,
        now: Timestamp,
        document: [UInt8]? = nil
    ) throws(ContainerAPIError) -> Container {
        guard Self.canSee(current, caller: caller) else {
            throw ContainerAPIError(.notFound, "Container \(current.uuid) not found")
        }
        let stored: [String: JSONValue]
        if let document, let parsed = (try? WireJSON.parse(document))?.objectValue {
            stored = parsed
        } else {
            stored = try Self.object(current)
        }
        var changed: [String: JSONValue] = [:]
        for (key, value) in patch {
            if key == "kind" || key == "href" { continue }
            guard Self.fieldSet.contains(key) else {
                throw ContainerAPIError(.unprocessable, "Unknown attribute '\(key)' for a container")
            }
            if !value.sameJSON(as: stored[key] ?? .null) {
                changed[key] = value
            }
        }
        let from = current.state
        var to = from
        if let state = changed["state"] {
            guard let name = state.stringValue, let next = ContainerState(rawValue: name) else {
                throw ContainerAPIError(.unprocessable, "Invalid state \(WireJSON.string(state))")
            }
            to = next
        }
        if changed.isEmpty {
            return current
        }
        if from.isFinal {
            throw ContainerAPIError(.unprocessable, "Container is \(from.rawValue) and can no longer be changed")
        }
        if from != to {
            guard from.canTransition(to: to) else {
                throw ContainerAPIError(
                    .unprocessable,
                    "Invalid state transition from \(from.rawValue) to \(to.rawValue)"
                )
            }
        }
        guard let permitted = Self.permittedFields(from: from, to: to) else {
            throw ContainerAPIError(
                .unprocessable,
                "Use the lock and unlock methods to move a container from \(from.rawValue) to \(to.rawValue)"
            )
        }
        for key in changed.keys.sorted() where !permitted.contains(key) {
            throw ContainerAPIError(
                .unprocessable,
                "Attribute '\(key)' cannot be changed when state goes from \(from.rawValue) to \(to.rawValue)"
            )
        }
        try Self.authorizeUpdate(current, changing: Set(changed.keys), by: caller)
        try Self.validate(changed)

        var merged = stored
        for (key, value) in changed {
            merged[key] = value
        }
        var next = try Self.decodeContainer(merged)
        if !Self.admissionFields.isDisjoint(with: changed.keys) {
            try Self.checkAdmissible(next)
        }
        if from != to {
            if to == .running {
                next.startedAt = next.startedAt ?? now
            }
            if to.isFinal {
                next.finishedAt = next.finishedAt ?? now
                next.lockedByUUID = nil
                next.authUUID = nil
            }
        }
        next.modifiedAt = now
        next.modifiedByUserUUID = caller.userUUID
        return next
    }

    /// Locks a Queued container with a positive priority for the caller's token, counting the attempt.
    static func lock(_ current: Container, by caller: Caller, now: Timestamp) throws(ContainerAPIError) -> Container {
        guard Self.canSee(current, caller: caller) else {
            throw ContainerAPIError(.notFound, "Container \(current.uuid) not found")
        }
        guard caller.isAdmin else {
            throw ContainerAPIError(.forbidden, "Only the system root token may lock containers")
        }
        guard current.state == .queued else {
            throw ContainerAPIError(.unprocessable, "cannot lock when \(current.state.rawValue)")
        }
        guard current.priority > 0 else {
            throw ContainerAPIError(.unprocessable, "cannot lock when priority<=0")
        }
        var next = current
        next.state = .locked
        next.lockedByUUID = caller.tokenUUID
        next.lockCount += 1
        next.modifiedAt = now
        next.modifiedByUserUUID = caller.userUUID
        return next
    }

    /// Returns a Locked container to the queue; cancels it instead when its priority is 0 (its owner cancelled it)
    /// or once it has been locked `maxDispatchAttempts` times.
    ///
    /// Only the token that holds the lock may unlock. A Running container may be unlocked too (not in Arvados, whose
    /// API cancels it instead): its dispatcher requeues a container whose instance was preempted. See
    /// ``requeueRunning(_:now:)``.
    static func unlock(
        _ current: Container,
        by caller: Caller,
        maxDispatchAttempts: Int,
        requeueRunning: Bool = false,
        now: Timestamp
    ) throws(ContainerAPIError) -> Container {
        guard Self.canSee(current, caller: caller) else {
            throw ContainerAPIError(.notFound, "Container \(current.uuid) not found")
        }
        // A Running container is unlocked only when the call says so (`requeue_running`, after a preemption):
        // a plain unlock planned from a snapshot in which it was still Locked must fail, as in Arvados, or its
        // runner would keep running while the container runs again elsewhere.
        guard current.state == .locked || (current.state == .running && requeueRunning) else {
            throw ContainerAPIError(.unprocessable, "cannot unlock when \(current.state.rawValue)")
        }
        guard current.lockedByUUID == caller.tokenUUID else {
            throw ContainerAPIError(.unprocessable, "locked by a different token")
        }
        if current.state == .running && current.priority > 0 {
            var next = Self.requeueRunning(current, now: now)
            next.modifiedByUserUUID = caller.userUUID
            return next
        }
        var next = current
        next.lockedByUUID = nil
        next.authUUID = nil
        if next.priority == 0 {
            // Its owner asked for it to stop (priority 0, Arvados's way of cancelling) before it ran: nobody
            // wants it any more, so it ends here instead of waiting in the queue forever.
            next.state = .cancelled
            next.finishedAt = now
            next.runtimeStatus = [:]
        } else if next.lockCount >= maxDispatchAttempts {
            next.state = .cancelled
            next.finishedAt = now
            next.runtimeStatus["error"] = .string(
                "Failed to start container.  Cancelled after exceeding 'Containers.MaxDispatchAttempts' "
                    + "(lock_count=\(next.lockCount))"
            )
        } else {
            next.state = .queued
            next.runtimeStatus = [:]
        }
        next.modifiedAt = now
        next.modifiedByUserUUID = caller.userUUID
        return next
    }

    /// A Running container back in the queue, as if this attempt had never started: the run's fields are cleared,
    /// `runtime_status` keeps its warnings (the dispatcher notes the preemption there before it unlocks) and
    /// `lock_count` gives back the attempt, since it did start: a preemption does not use up one of
    /// `Containers.MaxDispatchAttempts`, which count attempts that failed to start.
    static func requeueRunning(_ current: Container, now: Timestamp) -> Container {
        var next = current
        next.state = .queued
        next.lockedByUUID = nil
        next.authUUID = nil
        next.startedAt = nil
        next.progress = nil
        next.exitCode = nil
        next.output = nil
        next.log = nil
        next.gatewayAddress = nil
        next.interactiveSessionStarted = false
        next.runtimeStatus = next.runtimeStatus.filter { $0.key == "warning" || $0.key == "warningDetail" }
        next.lockCount = max(0, next.lockCount - 1)
        next.modifiedAt = now
        return next
    }

    /// The container as a JSON object carrying every schema attribute, absent ones as `null`.
    static func object(_ container: Container) throws(ContainerAPIError) -> [String: JSONValue] {
        var object: [String: JSONValue]
        do {
            object = try ContainerJSON.object(container)
        } catch {
            throw ContainerAPIError(.internal, "Cannot encode container: \(error.field) is not a finite number")
        }
        for field in Self.fields where object[field] == nil {
            object[field] = .null
        }
        return object
    }

    private static func authorizeUpdate(
        _ current: Container,
        changing keys: Set<String>,
        by caller: Caller
    ) throws(ContainerAPIError) {
        let isOwner = current.ownerUUID == caller.userUUID
        let isHolder = current.lockedByUUID != nil && current.lockedByUUID == caller.tokenUUID
        switch current.state {
        case .queued:
            guard caller.isAdmin || isOwner else {
                throw ContainerAPIError(.forbidden, "Not permitted to change container \(current.uuid)")
            }
        case .locked, .running:
            if keys == ["priority"], caller.isAdmin || isOwner || isHolder {
                return
            }
            guard isHolder else {
                throw ContainerAPIError(
                    .forbidden,
                    "Container \(current.uuid) is locked by another token; only the lock holder may change it"
                )
            }
        case .complete, .cancelled:
            throw ContainerAPIError(
                .unprocessable,
                "Container is \(current.state.rawValue) and can no longer be changed"
            )
        }
    }

    /// Checks the values whose range the model's types do not express.
    private static func validate(_ attributes: [String: JSONValue]) throws(ContainerAPIError) {
        if let priority = attributes["priority"], !priority.isNull {
            guard let value = priority.integerValue, (0...Self.maxPriority).contains(value) else {
                throw ContainerAPIError(.unprocessable, "priority must be an integer from 0 to \(Self.maxPriority)")
            }
        }
        if let exitCode = attributes["exit_code"], !exitCode.isNull {
            guard let value = exitCode.integerValue, Self.exitCodeRange.contains(value) else {
                throw ContainerAPIError(
                    .unprocessable,
                    "exit_code must be an integer from \(Self.exitCodeRange.lowerBound) to \(Self.exitCodeRange.upperBound)"
                )
            }
        }
    }

    private static func decodeContainer(_ object: [String: JSONValue]) throws(ContainerAPIError) -> Container {
        if let container = ContainerJSON.container(object) { return container }
        do {
            return try WireJSON.decode(Container.self, from: .object(object))
        } catch let error as DecodingError {
            throw ContainerAPIError(.unprocessable, "Invalid container attributes: \(Self.describe(error))")
        } catch {
            throw ContainerAPIError(.unprocessable, "Invalid container attributes", cause: error)
        }
    }

    /// A short description of a decoding error that names the attribute, for an API error message.
    static func describe(_ error: DecodingError) -> String {
        let path: [any CodingKey]
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            path = context.codingPath
        case .keyNotFound(let key, let context):
            path = context.codingPath + [key]
        @unknown default:
            path = []
        }
        let name = path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        return name.isEmpty ? "wrong type" : "wrong type or value for '\(name)'"
    }
}
