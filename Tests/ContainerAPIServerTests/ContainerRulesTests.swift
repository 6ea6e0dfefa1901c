import DispatchModel
import Foundation
import Testing

@testable import ContainerAPIServer

/// Callers for the rule tables: the dispatcher (root token, which takes the locks), a root-privileged caller that
/// does not hold the lock, the owner (a submitter) and another submitter.
enum Role: String, Sendable, CustomTestStringConvertible {
    case holder, otherAdmin, owner, stranger

    var caller: Caller {
        switch self {
        case .holder:
            Caller(tokenUUID: "zzzzz-gj3su-000000000000000", userUUID: "zzzzz-tpzed-000000000000000", isAdmin: true)
        case .otherAdmin:
            Caller(tokenUUID: "zzzzz-gj3su-111111111111111", userUUID: "zzzzz-tpzed-000000000000000", isAdmin: true)
        case .owner:
            Caller(tokenUUID: "zzzzz-gj3su-aaaaaaaaaaaaaaa", userUUID: "zzzzz-tpzed-aaaaaaaaaaaaaaa", isAdmin: false)
        case .stranger:
            Caller(tokenUUID: "zzzzz-gj3su-bbbbbbbbbbbbbbb", userUUID: "zzzzz-tpzed-bbbbbbbbbbbbbbb", isAdmin: false)
        }
    }

    var testDescription: String { self.rawValue }
}

/// The outcome of a rule: the resulting state, or the HTTP status of the refusal.
enum Outcome: Equatable, Sendable, CustomTestStringConvertible {
    case state(ContainerState)
    case refused(Int)

    var testDescription: String {
        switch self {
        case .state(let state): state.rawValue
        case .refused(let status): "HTTP \(status)"
        }
    }
}

@Suite("Container rules")
struct ContainerRulesTests {
    static let now = Timestamp(Date(timeIntervalSince1970: 1_800_000_000))

    /// A container owned by ``Role/owner``, locked by ``Role/holder`` when Locked or Running.
    static func container(_ state: ContainerState, priority: Int = 1, lockCount: Int = 1) -> Container {
        var container = Container(uuid: "zzzzz-dz642-000000000000001", state: state, priority: priority)
        container.ownerUUID = Role.owner.caller.userUUID
        container.lockCount = lockCount
        if state == .locked || state == .running {
            container.lockedByUUID = Role.holder.caller.tokenUUID
        }
        return container
    }

    static func outcome(_ body: () throws(ContainerAPIError) -> Container) -> Outcome {
        do {
            return .state(try body().state)
        } catch {
            return .refused(error.code.httpStatus)
        }
    }

    @Test(
        "State changes by update follow the Arvados state machine and the lock holder rule",
        arguments: [
            // Allowed.
            (ContainerState.queued, ContainerState.cancelled, Role.owner, Outcome.state(.cancelled)),
            (.queued, .cancelled, .holder, .state(.cancelled)),
            (.locked, .running, .holder, .state(.running)),
            (.locked, .cancelled, .holder, .state(.cancelled)),
            (.running, .complete, .holder, .state(.complete)),
            (.running, .cancelled, .holder, .state(.cancelled)),
            // Not transitions at all.
            (.queued, .running, .holder, .refused(422)),
            (.queued, .complete, .holder, .refused(422)),
            (.locked, .complete, .holder, .refused(422)),
            (.running, .queued, .holder, .refused(422)),
            (.running, .locked, .holder, .refused(422)),
            (.complete, .running, .holder, .refused(422)),
            (.complete, .cancelled, .holder, .refused(422)),
            (.cancelled, .queued, .holder, .refused(422)),
            // Lock and unlock go through their own methods.
            (.queued, .locked, .holder, .refused(422)),
            (.locked, .queued, .holder, .refused(422)),
            // Only the lock holder moves a locked container.
            (.locked, .running, .otherAdmin, .refused(403)),
            (.locked, .running, .owner, .refused(403)),
            (.running, .complete, .owner, .refused(403)),
            (.running, .cancelled, .otherAdmin, .refused(403)),
            // Someone else's container does not exist for a submitter.
            (.queued, .cancelled, .stranger, .refused(404)),
            (.running, .complete, .stranger, .refused(404)),
        ]
    )
    func stateChange(from: ContainerState, to: ContainerState, role: Role, expected: Outcome) {
        let outcome = Self.outcome { () throws(ContainerAPIError) in
            try ContainerRules.update(
                Self.container(from),
                with: ["state": .string(to.rawValue)],
                by: role.caller,
                now: Self.now
            )
        }
        #expect(outcome == expected)
    }

    @Test(
        "Attribute changes are allowed only in the states and by the callers Arvados allows",
        arguments: [
            (ContainerState.queued, "priority", JSONValue.int(5), Role.owner, Outcome.state(.queued)),
            (.locked, "priority", .int(5), .owner, .state(.locked)),
            (.running, "priority", .int(0), .owner, .state(.running)),
            (.running, "progress", .double(0.5), .holder, .state(.running)),
            (.running, "runtime_status", .object(["warning": .string("slow")]), .holder, .state(.running)),
            (.locked, "runtime_status", .object(["error": .string("no type")]), .holder, .state(.locked)),
            (.locked, "runtime_status", .object(["error": .string("no type")]), .owner, .refused(403)),
            (.running, "log", .string("d41d8cd98f00b204e9800998ecf8427e+0"), .holder, .state(.running)),
            (.running, "progress", .double(0.5), .owner, .refused(403)),
            (.running, "exit_code", .int(0), .holder, .refused(422)),
            (.queued, "progress", .double(0.5), .owner, .refused(422)),
            (.queued, "command", .array([.string("rm")]), .owner, .refused(422)),
            (.queued, "locked_by_uuid", .string("zzzzz-gj3su-000000000000000"), .holder, .refused(422)),
            (.queued, "lock_count", .int(0), .holder, .refused(422)),
            (.queued, "priority", .int(1001), .owner, .refused(422)),
            (.queued, "priority", .int(-1), .owner, .refused(422)),
            (.queued, "priority", .string("high"), .owner, .refused(422)),
            (.queued, "no_such_field", .int(1), .owner, .refused(422)),
            (.complete, "priority", .int(5), .holder, .refused(422)),
        ]
    )
    func attributeChange(state: ContainerState, key: String, value: JSONValue, role: Role, expected: Outcome) {
        let outcome = Self.outcome { () throws(ContainerAPIError) in
            try ContainerRules.update(Self.container(state), with: [key: value], by: role.caller, now: Self.now)
        }
        #expect(outcome == expected)
    }

    @Test("An attribute sent back with its current value is not a change")
    func unchangedAttributes() throws {
        let current = Self.container(.running)
        let object = try ContainerRules.object(current)
        let next = try ContainerRules.update(current, with: object, by: Role.owner.caller, now: Self.now)
        #expect(next == current)
    }

    @Test("An update given the stored JSON decides as one that encodes the record again")
    func updateFromStoredDocument() throws {
        for state in [ContainerState.queued, .locked, .running, .complete] {
            var current = Self.container(state)
            current.command = ["echo", "hello"]
            current.containerImage = "arvados/jobs"
            current.environment = ["A": "1"]
            current.runtimeConstraints = RuntimeConstraints(vcpus: 2, ram: 1 << 30)
            current.mounts = ["/tmp": Mount(kind: "tmp", capacity: 1 << 20)]
            current.runtimeStatus = ["warning": .string("slow")]
            current.createdAt = Self.now
            current.modifiedAt = Self.now
            let stored = try ContainerStore.stored(current, newEtag: true)
            let patches: [[String: JSONValue]] = [
                ["state": .string("Running")],
                ["state": .string("Complete"), "exit_code": .int(0), "log": .string("pdh+2")],
                ["state": .string("Cancelled")],
                ["priority": .int(7)],
                ["runtime_status": .object(["error": .string("failed")])],
                ["progress": .double(0.5)],
                try ContainerRules.object(stored.container),
                ["kind": .string("arvados#container"), "priority": .int(1)],
                ["mounts": .object([:])],
                ["no_such_field": .int(1)],
            ]
            for patch in patches {
                for role in [Role.holder, .owner, .stranger] {
                    let later = Timestamp(Date(timeIntervalSince1970: 1_800_000_060))
                    let reencoded = Result { () throws(ContainerAPIError) in
                        try ContainerRules.update(stored.container, with: patch, by: role.caller, now: later)
                    }
                    let read = Result { () throws(ContainerAPIError) in
                        try ContainerRules.update(
                            stored.container,
                            with: patch,
                            by: role.caller,
                            now: later,
                            document: stored.document
                        )
                    }
                    switch (reencoded, read) {
                    case (.success(let a), .success(let b)):
                        #expect(a == b, "\(state) \(patch.keys.sorted()) \(role)")
                    case (.failure(let a), .failure(let b)):
                        #expect(a.message == b.message, "\(state) \(patch.keys.sorted()) \(role)")
                    default:
                        Issue.record("\(state) \(patch.keys.sorted()) \(role): \(reencoded) against \(read)")
                    }
                }
            }
        }
    }

    @Test(
        "A stored container's JSON has the document layout's members, in every state",
        arguments: ContainerState.allCases
    )
    func documentLayoutFits(_ state: ContainerState) throws {
        var container = Self.container(state)
        container.runtimeStatus = ["warning": .string("slow")]
        var object = try ContainerRules.object(container)
        object["kind"] = .string("arvados#container")
        object["etag"] = nil
        // The layout is only a shortcut (other members are written all the same), so a layout that stopped fitting
        // would go unnoticed but for this.
        #expect(ContainerStore.documentLayout.fits(object))
        let stored = try ContainerStore.stored(container, newEtag: true)
        object["etag"] = .string(try #require(stored.container.etag))
        #expect(stored.document == JSONValue.object(object).jsonBytes)
    }

    @Test("Completing sets the exit code and the finish time and releases the lock")
    func complete() throws {
        let next = try ContainerRules.update(
            Self.container(.running),
            with: ["state": .string("Complete"), "exit_code": .int(3), "output": .string("pdh+1")],
            by: Role.holder.caller,
            now: Self.now
        )
        #expect(next.state == .complete)
        #expect(next.exitCode == 3)
        #expect(next.output == "pdh+1")
        #expect(next.finishedAt == Self.now)
        #expect(next.lockedByUUID == nil)
        #expect(next.modifiedByUserUUID == Role.holder.caller.userUUID)
    }

    @Test("Starting to run sets the start time")
    func start() throws {
        let next = try ContainerRules.update(
            Self.container(.locked),
            with: ["state": .string("Running")],
            by: Role.holder.caller,
            now: Self.now
        )
        #expect(next.startedAt == Self.now)
        #expect(next.lockedByUUID == Role.holder.caller.tokenUUID)
    }

    @Test(
        "Lock needs a Queued container with positive priority and the root token",
        arguments: [
            (ContainerState.queued, 1, Role.holder, Outcome.state(.locked)),
            (.queued, 0, .holder, .refused(422)),
            (.locked, 1, .holder, .refused(422)),
            (.running, 1, .holder, .refused(422)),
            (.cancelled, 1, .holder, .refused(422)),
            (.queued, 1, .owner, .refused(403)),
            (.queued, 1, .stranger, .refused(404)),
        ]
    )
    func lock(state: ContainerState, priority: Int, role: Role, expected: Outcome) {
        let outcome = Self.outcome { () throws(ContainerAPIError) in
            try ContainerRules.lock(Self.container(state, priority: priority), by: role.caller, now: Self.now)
        }
        #expect(outcome == expected)
    }

    @Test("Lock records the holder and counts the attempt")
    func lockBookkeeping() throws {
        let next = try ContainerRules.lock(Self.container(.queued, lockCount: 2), by: Role.holder.caller, now: Self.now)
        #expect(next.lockedByUUID == Role.holder.caller.tokenUUID)
        #expect(next.lockCount == 3)
    }

    @Test(
        "Unlock requeues until lock_count reaches MaxDispatchAttempts, then cancels",
        arguments: [
            (1, 3, Role.holder, Outcome.state(.queued)),
            (2, 3, .holder, .state(.queued)),
            (3, 3, .holder, .state(.cancelled)),
            (4, 3, .holder, .state(.cancelled)),
            (1, 3, .otherAdmin, .refused(422)),
            (1, 3, .owner, .refused(422)),
        ]
    )
    func unlock(lockCount: Int, maxAttempts: Int, role: Role, expected: Outcome) {
        let outcome = Self.outcome { () throws(ContainerAPIError) in
            try ContainerRules.unlock(
                Self.container(.locked, lockCount: lockCount),
                by: role.caller,
                maxDispatchAttempts: maxAttempts,
                now: Self.now
            )
        }
        #expect(outcome == expected)
    }

    @Test(
        "A Running container unlocked by its holder with requeue_running is requeued (a preemption); without it, or by others, refused as in Arvados",
        arguments: [
            (1, 3, Role.holder, true, Outcome.state(.queued)),
            (3, 3, .holder, true, .state(.queued)),
            (1, 3, .holder, false, .refused(422)),
            (1, 3, .otherAdmin, true, .refused(422)),
            (1, 3, .owner, true, .refused(422)),
        ]
    )
    func unlockRunning(lockCount: Int, maxAttempts: Int, role: Role, requeueRunning: Bool, expected: Outcome) {
        let outcome = Self.outcome { () throws(ContainerAPIError) in
            try ContainerRules.unlock(
                Self.container(.running, lockCount: lockCount),
                by: role.caller,
                maxDispatchAttempts: maxAttempts,
                requeueRunning: requeueRunning,
                now: Self.now
            )
        }
        #expect(outcome == expected)
    }

    @Test("A requeued Running container gives back its attempt and forgets the run, keeping the warning")
    func unlockRunningBookkeeping() throws {
        var running = Self.container(.running, lockCount: 2)
        running.startedAt = Self.now
        running.progress = 0.5
        running.log = "abc+1"
        running.runtimeStatus = ["warning": .string("Preempted: requeued"), "activity": .string("running")]
        let requeued = try ContainerRules.unlock(
            running,
            by: Role.holder.caller,
            maxDispatchAttempts: 2,
            requeueRunning: true,
            now: Self.now
        )
        #expect(requeued.state == .queued)
        #expect(requeued.lockedByUUID == nil && requeued.authUUID == nil)
        #expect(requeued.lockCount == 1, "a preemption does not use up one of MaxDispatchAttempts")
        #expect(requeued.startedAt == nil && requeued.progress == nil && requeued.log == nil)
        #expect(requeued.runtimeStatus == ["warning": .string("Preempted: requeued")])
        var cancelled = Self.container(.running, priority: 0)
        cancelled.startedAt = Self.now
        let stopped = try ContainerRules.unlock(
            cancelled,
            by: Role.holder.caller,
            maxDispatchAttempts: 2,
            requeueRunning: true,
            now: Self.now
        )
        #expect(stopped.state == .cancelled, "priority 0: its owner cancelled it")
    }

    @Test("Unlock clears the holder, and a cancelling unlock says why")
    func unlockBookkeeping() throws {
        let requeued = try ContainerRules.unlock(
            Self.container(.locked, lockCount: 1),
            by: Role.holder.caller,
            maxDispatchAttempts: 2,
            requeueRunning: true,
            now: Self.now
        )
        #expect(requeued.lockedByUUID == nil)
        #expect(requeued.lockCount == 1)
        let cancelled = try ContainerRules.unlock(
            Self.container(.locked, lockCount: 2),
            by: Role.holder.caller,
            maxDispatchAttempts: 2,
            requeueRunning: true,
            now: Self.now
        )
        #expect(cancelled.lockedByUUID == nil)
        #expect(cancelled.finishedAt == Self.now)
        #expect(cancelled.runtimeStatus["error"]?.stringValue?.contains("MaxDispatchAttempts") == true)
    }

    @Test(
        "A new container needs a command, an image, an output path and resources",
        arguments: [
            ("command", JSONValue.array([])),
            ("container_image", .string("")),
            ("output_path", .string("")),
            ("runtime_constraints", .object(["vcpus": .int(0), "ram": .int(1)])),
            ("runtime_constraints", .object(["vcpus": .int(1)])),
            ("state", .string("Running")),
            ("lock_count", .int(3)),
            ("exit_code", .int(0)),
            ("uuid", .string("zzzzz-dz642-000000000000009")),
            ("bogus", .int(1)),
        ]
    )
    func invalidCreate(key: String, value: JSONValue) {
        var attributes: [String: JSONValue] = [
            "command": .array([.string("true")]),
            "container_image": .string("img"),
            "output_path": .string("/out"),
            "runtime_constraints": .object(["vcpus": .int(1), "ram": .int(1000)]),
        ]
        attributes[key] = value
        #expect(throws: ContainerAPIError.self) {
            try ContainerRules.makeContainer(
                attributes: attributes,
                uuid: "zzzzz-dz642-000000000000001",
                caller: Role.owner.caller,
                now: Self.now
            )
        }
    }

    @Test(
        "LIKE patterns translate to equivalent GLOB patterns",
        arguments: [
            ("abc%", "abc*"),
            ("a_c", "a?c"),
            ("100\\%", "100%"),
            ("a*b?[c]", "a[*]b[?][[]c]"),
            ("\\_x", "_x"),
        ]
    )
    func likeToGlob(like: String, glob: String) {
        #expect(ListQuery.Filter.glob(fromLikePattern: like) == glob)
    }

    @Test(
        "Query values are JSON when they parse as JSON and strings otherwise",
        arguments: [
            ("10", JSONValue.int(10)),
            ("none", .string("none")),
            ("[[\"state\",\"=\",\"Queued\"]]", .array([.array([.string("state"), .string("="), .string("Queued")])])),
            ("zzzzz-dz642-000000000000001", .string("zzzzz-dz642-000000000000001")),
            ("0zzzz-dz642-000000000000001", .string("0zzzz-dz642-000000000000001")),
            ("true", .bool(true)),
        ]
    )
    func parameterValues(text: String, expected: JSONValue) {
        #expect(RequestParameters.value(fromText: text) == expected)
    }

    @Test(
        "Timestamps are written with microseconds",
        arguments: [
            (1_800_000_000.123456, "2027-01-15T08:00:00.123456Z"),
            (1_800_000_000, "2027-01-15T08:00:00.000000Z"),
            (1_800_000_000.000001, "2027-01-15T08:00:00.000001Z"),
        ]
    )
    func microsecondTimestamps(seconds: Double, text: String) {
        #expect(WireJSON.microsecondText(Timestamp(Date(timeIntervalSince1970: seconds))) == text)
    }

    @Test("Submitter tokens map to stable, distinct users that do not contain the token")
    func tokenDirectory() throws {
        let directory = TokenDirectory(
            clusterID: "zzzzz",
            systemRootToken: "root",
            submitterTokens: ["a-token", "b-token"]
        )
        let root = try #require(directory.caller(for: "root"))
        let a = try #require(directory.caller(for: "a-token"))
        let b = try #require(directory.caller(for: "b-token"))
        #expect(root.isAdmin && !a.isAdmin && !b.isAdmin)
        #expect(a.userUUID != b.userUUID && a.tokenUUID != b.tokenUUID)
        #expect(a.userUUID.hasPrefix("zzzzz-tpzed-") && a.tokenUUID.hasPrefix("zzzzz-gj3su-"))
        #expect(!a.userUUID.contains("a-token"))
        #expect(directory.caller(for: "v2/zzzzz-gj3su-xxxxxxxxxxxxxxx/a-token") == a)
        #expect(directory.caller(for: "nope") == nil)
        #expect(directory.caller(for: "") == nil)
        let again = TokenDirectory(
            clusterID: "zzzzz",
            systemRootToken: "root",
            submitterTokens: ["b-token", "a-token"]
        )
        #expect(again.caller(for: "a-token") == a)
    }
}
