import ArvadosAPI
import DispatchModel
import DispatchTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import ContainerQueue

/// The container queue against the real embedded API (reference §3.2).
@Suite("Container queue")
struct ContainerQueueTests {
    static let menu = InstanceTypeChooser(
        types: [Fixtures.instanceType(1), Fixtures.instanceType(2), Fixtures.instanceType(4)],
        maximumPriceFactor: 1.5,
        reserveExtraRAM: .zero,
        localKeepBlobBuffersPerVCPU: 0
    )

    /// A queue over `api` with the root token, its requests through `transport` when given.
    static func queue(
        _ api: EmbeddedContainerAPI,
        transport: (any ArvadosTransport)? = nil,
        configure: (inout ContainerQueue<ManualClock>.Configuration) -> Void = { _ in }
    ) -> ContainerQueue<ManualClock> {
        var configuration = ContainerQueue<ManualClock>.Configuration()
        configure(&configuration)
        return ContainerQueue(
            client: transport.map { ArvadosClient(baseURL: api.url, token: api.rootToken, transport: $0) }
                ?? api.rootClient,
            chooser: Self.menu,
            configuration: configuration,
            clock: ManualClock(),
            logger: Logger(label: "queue-test")
        )
    }

    /// The `filters` parameter of a request's URL, decoded.
    static func filters(of url: String) -> String {
        URLComponents(string: url)?.queryItems?.first { $0.name == "filters" }?.value ?? ""
    }

    /// Creates `count` containers concurrently, eight at a time.
    static func create(
        _ api: EmbeddedContainerAPI,
        count: Int,
        priority: @escaping @Sendable (Int) -> Int = { _ in 1 },
        attributes: @escaping @Sendable (Int) -> [String: JSONValue] = { _ in [:] },
        lock: Bool = false
    ) async throws -> [ContainerUUID] {
        try await withThrowingTaskGroup(of: ContainerUUID.self) { group in
            var uuids: [ContainerUUID] = []
            for index in 0..<count {
                if index >= 8, let uuid = try await group.next() { uuids.append(uuid) }
                group.addTask {
                    let container = try await api.createContainer(
                        command: ["true"],
                        priority: priority(index),
                        attributes(index)
                    )
                    if lock { _ = try await api.rootClient.lockContainer(container.uuid) }
                    return container.uuid
                }
            }
            for try await uuid in group { uuids.append(uuid) }
            return uuids
        }
    }

    @Test("Containers locked by this dispatcher are fetched past the first 1,000 by keyset pagination")
    func lockedPagination() async throws {
        try await EmbeddedContainerAPI.with { api in
            let locked = try await Self.create(api, count: 1_050, lock: true)
            let queue = Self.queue(api)
            try await queue.update()
            let entries = await queue.entries().entries
            #expect(entries.count == 1_050)
            #expect(Set(entries.keys) == Set(locked))
            #expect(entries.values.allSatisfy { $0.container.state == .locked })
        }
    }

    @Test("A poll that finds what the cache holds leaves the queue's version alone; a changed priority moves it")
    func unchangedPollKeepsVersion() async throws {
        try await EmbeddedContainerAPI.with { api in
            let uuids = try await Self.create(api, count: 5)
            let queue = Self.queue(api)
            try await queue.update()
            let first = await queue.schedulingEntries()
            #expect(first.entries.count == 5)
            try await queue.update()
            let again = await queue.schedulingEntries()
            // The scheduler reuses its last plan while the version stays: an unchanged poll must not move it.
            #expect(again.version == first.version, "a poll that changed nothing moved the version")
            _ = try await api.rootClient.updateContainer(uuids[0], ["priority": .int(9)])
            try await queue.update()
            let changed = await queue.schedulingEntries()
            #expect(changed.version != first.version)
            #expect(await queue.entries().entries[uuids[0]]?.container.priority == 9)
        }
    }

    @Test("Queued containers are fetched by priority until 100 non-supervisors are in hand")
    func queuedTarget() async throws {
        try await EmbeddedContainerAPI.with { api in
            // Priorities 1...250; the ten highest are supervisors, which do not count toward the target.
            _ = try await Self.create(
                api,
                count: 250,
                priority: { $0 + 1 },
                attributes: { index in
                    index >= 240 ? ["scheduling_parameters": .object(["supervisor": .bool(true)])] : [:]
                }
            )
            _ = try await Self.create(api, count: 5, priority: { _ in 0 })
            let queue = Self.queue(api) { $0.pageSize = 50 }
            try await queue.update()
            let entries = await queue.entries().entries.values
            // Pages of 50 until 100 non-supervisors: 150 fetched (10 supervisors + 140 others).
            #expect(entries.count == 150)
            #expect(entries.map(\.container.priority).min() == 101)
            #expect(entries.allSatisfy { $0.container.priority > 0 })
            #expect(entries.count { $0.container.schedulingParameters.supervisor } == 10)
        }
    }

    @Test("New containers get their instance types and resources on first sight, with mounts counted")
    func firstSight() async throws {
        try await EmbeddedContainerAPI.with { api in
            let container = try await api.createContainer(
                command: ["true"],
                [
                    "runtime_constraints": .object(["vcpus": .int(2), "ram": .int(1 << 30)]),
                    "mounts": .object(["/tmp": .object(["kind": .string("tmp"), "capacity": .int(1 << 30)])]),
                ]
            )
            let queue = Self.queue(api)
            try await queue.update()
            let entry = try #require(await queue.entry(container.uuid))
            #expect(entry.instanceTypes.map(\.name) == ["type2"])
            #expect(entry.resources.scratch == .giB(1))
            #expect(entry.resources.vcpus == 2)
            // Mounts are used once and not kept in memory.
            #expect(entry.container.mounts.isEmpty)
        }
    }

    @Test("A container no instance type can run is cancelled with Arvados's runtime_status error")
    func unsatisfiable() async throws {
        try await EmbeddedContainerAPI.with { api in
            let container = try await api.createContainer(
                command: ["true"],
                ["runtime_constraints": .object(["vcpus": .int(64), "ram": .int(1 << 30)])]
            )
            let queue = Self.queue(api)
            try await queue.update()
            #expect(await queue.entry(container.uuid) == nil)
            let cancelled = try await api.rootClient.container(container.uuid)
            #expect(cancelled.state == .cancelled)
            #expect(
                cancelled.runtimeStatus["error"]?.stringValue
                    == "constraints not satisfiable by any configured instance type"
            )
        }
    }

    @Test("A lock that lands while a poll is in flight is not undone by the poll's older view")
    func updateGuard() async throws {
        try await EmbeddedContainerAPI.with { api in
            let container = try await api.createContainer(command: ["true"])
            let transport = ListHookTransport(AsyncHTTPClientTransport())
            let queue = ContainerQueue(
                client: ArvadosClient(baseURL: api.url, token: api.rootToken, transport: transport),
                chooser: Self.menu,
                clock: ManualClock(),
                logger: Logger(label: "queue-test")
            )
            try await queue.update()
            #expect(await queue.entry(container.uuid)?.container.state == .queued)
            // The next poll lists the container Queued; a lock completes before the poll's results are merged.
            transport.afterList(containing: "Queued") {
                try? await queue.lock(container.uuid)
            }
            try await queue.update()
            #expect(!transport.isPending, "the hook ran")
            #expect(await queue.entry(container.uuid)?.container.state == .locked)
            try await queue.update()
            #expect(await queue.entry(container.uuid)?.container.state == .locked)
        }
    }

    @Test("A record pushed while a poll fetches a new container's mounts is not overwritten by the poll's view")
    func mergeDoesNotOverwritePushedRecords() async throws {
        try await EmbeddedContainerAPI.with { api in
            let transport = ListHookTransport(AsyncHTTPClientTransport())
            let queue = ContainerQueue(
                client: ArvadosClient(baseURL: api.url, token: api.rootToken, transport: transport),
                chooser: Self.menu,
                clock: ManualClock(),
                logger: Logger(label: "queue-test")
            )
            try await queue.update()
            let container = try await api.createContainer(command: ["true"])
            // While the next poll fetches the new container's mounts, the container is locked and the
            // embedded API pushes the locked record, as its change feed does.
            transport.beforeRequest(containing: container.uuid.rawValue) {
                guard let locked = try? await api.rootClient.lockContainer(container.uuid) else { return }
                await queue.applyPushed([locked], complete: nil)
            }
            try await queue.update()
            #expect(!transport.isPending, "the hook ran")
            #expect(await queue.entry(container.uuid)?.container.state == .locked)
            #expect(await queue.entry(container.uuid)?.container.lockCount == 1)
        }
    }

    @Test("A pushed record older than the cached one (the feed behind a lock's answer) does not undo the lock")
    func olderPushIgnored() async throws {
        try await EmbeddedContainerAPI.with { api in
            let queue = Self.queue(api)
            let created = try await api.createContainer(command: ["true"])
            try await queue.update()
            try await queue.lock(created.uuid)
            #expect(await queue.entry(created.uuid)?.container.state == .locked)
            // The change feed delivers the creation only now, then the lock.
            await queue.applyPushed([created], complete: nil)
            #expect(await queue.entry(created.uuid)?.container.state == .locked, "the older Queued record is ignored")
            let locked = try await api.rootClient.container(created.uuid)
            await queue.applyPushed([locked], complete: nil)
            #expect(await queue.entry(created.uuid)?.container.state == .locked)
            // A newer record still replaces the cached one.
            let unlocked = try await api.rootClient.unlockContainer(created.uuid)
            await queue.applyPushed([unlocked], complete: nil)
            #expect(await queue.entry(created.uuid)?.container.state == .queued)
        }
    }

    @Test("A record the change feed delivers after a poll read a newer one does not undo the poll's state")
    func latePushAfterPollIgnored() async throws {
        try await EmbeddedContainerAPI.with { api in
            let queue = Self.queue(api)
            let created = try await api.createContainer(command: ["true"])
            try await queue.update()
            try await queue.lock(created.uuid)
            let locked = try await api.rootClient.container(created.uuid)
            // The runner reports Running, and the next poll reads it before the feed has delivered the lock.
            _ = try await api.rootClient.updateContainer(created.uuid, ["state": .string("Running")])
            try await queue.update()
            let polled = await queue.entry(created.uuid)?.container
            #expect(polled?.state == .running)
            #expect(polled?.modifiedAt != nil && polled?.modifiedAt != locked.modifiedAt, "the poll's modified_at")
            await queue.applyPushed([locked], complete: nil)
            // Shown Locked again, with its runner gone, the container would be started a second time.
            #expect(await queue.entry(created.uuid)?.container.state == .running, "the late Locked record is ignored")
        }
    }

    @Test("The answer to a change does not undo a later change the feed pushed while the answer was on its way")
    func answerOlderThanPushIgnored() async throws {
        try await EmbeddedContainerAPI.with { api in
            let transport = ListHookTransport(AsyncHTTPClientTransport())
            let queue = Self.queue(api, transport: transport)
            let uuid = try await api.createContainer(command: ["true"]).uuid
            try await queue.update()
            // The lock's answer is on its way back when the runner reports Running and the feed pushes that.
            transport.afterRequest(containing: "\(uuid.rawValue)/lock") {
                guard let running = try? await api.rootClient.updateContainer(uuid, ["state": .string("Running")])
                else { return }
                await queue.applyPushed([running], complete: nil)
            }
            try await queue.lock(uuid)
            #expect(!transport.isPending, "the hook ran")
            #expect(try await api.rootClient.container(uuid).state == .running)
            #expect(await queue.entry(uuid)?.container.state == .running, "the lock's older answer is ignored")
        }
    }

    @Test("A graceful shutdown ends the pause between polls at once", .timeLimit(.minutes(1)))
    func shutdownEndsPause() async throws {
        try await EmbeddedContainerAPI.with { api in
            // The manual clock never moves: only the shutdown can end the pause after the first poll.
            let queue = Self.queue(api)
            let changes = await queue.subscribe()
            let notifications = try await withRunningServices([queue], logger: Logger(label: "queue-test")) {
                var iterator = changes.makeAsyncIterator()
                _ = await iterator.next()
                return await queue.notifications
            }
            #expect(notifications == 1)
            #expect(await queue.notifications == 1, "no poll after the shutdown")
        }
    }

    @Test("A graceful shutdown waits for the cancel of a pushed container no instance type can run")
    func shutdownWaitsForPushedCancel() async throws {
        try await EmbeddedContainerAPI.with { api in
            let queue = Self.queue(api)
            let changes = await queue.subscribe()
            let uuid = try await withRunningServices([queue], logger: Logger(label: "queue-test")) {
                // The first poll is over (it notifies) and the manual clock stands still: no other poll comes,
                // so only the push can cancel the container.
                var iterator = changes.makeAsyncIterator()
                _ = await iterator.next()
                let container = try await api.createContainer(
                    command: ["true"],
                    ["runtime_constraints": .object(["vcpus": .int(64), "ram": .int(1 << 30)])]
                )
                await queue.applyPushed([container], complete: nil)
                return container.uuid
            }
            let cancelled = try await api.rootClient.container(uuid)
            #expect(cancelled.state == .cancelled)
            #expect(
                cancelled.runtimeStatus["error"]?.stringValue
                    == "constraints not satisfiable by any configured instance type"
            )
        }
    }

    @Test("A lock leaves the whole record in the cache, and later polls refresh only what they select")
    func lockedRecordKept() async throws {
        try await EmbeddedContainerAPI.with { api in
            let container = try await api.createContainer(
                command: ["echo", "hello"],
                ["environment": .object(["GREETING": .string("hi")]), "cwd": .string("/tmp")]
            )
            let queue = Self.queue(api)
            try await queue.update()
            // A poll selects only what scheduling needs: no command yet.
            #expect(await queue.entry(container.uuid)?.container.command == [])
            try await queue.lock(container.uuid)
            try await queue.update()
            let cached = try #require(await queue.entry(container.uuid)?.container)
            #expect(cached.state == .locked)
            #expect(cached.command == ["echo", "hello"])
            #expect(cached.environment == ["GREETING": "hi"])
            #expect(cached.cwd == "/tmp")
            // A polled change still lands.
            _ = try await api.rootClient.updateContainer(container.uuid, ["priority": .int(7)])
            try await queue.update()
            #expect(await queue.entry(container.uuid)?.container.priority == 7)
            #expect(await queue.entry(container.uuid)?.container.command == ["echo", "hello"])
        }
    }

    @Test("A 503 answer to a lock, unlock or cancel is remembered as the last 503, not only a poll's")
    func serviceUnavailableOnChange() async throws {
        try await EmbeddedContainerAPI.with { api in
            let proxy = FaultInjectingProxy(upstream: api.url)
            let proxyTask = Task { try await proxy.run() }
            defer { proxyTask.cancel() }
            let port = await proxy.listeningPort()
            let client = ArvadosClient(baseURL: URL(string: "http://127.0.0.1:\(port)")!, token: api.rootToken)
            let container = try await api.createContainer(command: ["true"])
            let queue = ContainerQueue(
                client: client,
                chooser: Self.menu,
                clock: ManualClock(),
                logger: Logger(label: "queue-test")
            )
            try await queue.update()
            #expect(await queue.last503() == nil)
            proxy.refuseNext(1)
            await #expect(throws: ArvadosAPIError.self) { try await queue.lock(container.uuid) }
            #expect(await queue.last503() != nil)
            #expect(proxy.counts.refused == 1)
        }
    }

    @Test("A cached container that leaves both lists is fetched by UUID and its final state seen")
    func missingRefetched() async throws {
        try await EmbeddedContainerAPI.with { api in
            let container = try await api.createContainer(command: ["true"])
            let queue = Self.queue(api)
            try await queue.lock(container.uuid)
            try await queue.update()
            _ = try await api.rootClient.updateContainer(container.uuid, ["state": .string("Running")])
            _ = try await api.rootClient.updateContainer(
                container.uuid,
                ["state": .string("Complete"), "exit_code": .int(0)]
            )
            try await queue.update()
            #expect(await queue.entry(container.uuid)?.container.state == .complete)
            // Final entries are forgotten on request and not fetched again.
            await queue.forget(container.uuid)
            try await queue.update()
            #expect(await queue.entry(container.uuid) == nil)
        }
    }

    @Test("Cached containers that leave both lists are fetched by UUID in batches, every one of them")
    func missingRefetchedInBatches() async throws {
        try await EmbeddedContainerAPI.with { api in
            // 45 locked containers: three batches of at most 20 once they have left both lists.
            let uuids = try await Self.create(api, count: 45)
            let queue = Self.queue(api)
            for uuid in uuids { try await queue.lock(uuid) }
            try await queue.update()
            for uuid in uuids {
                _ = try await api.rootClient.updateContainer(uuid, ["state": .string("Running")])
                _ = try await api.rootClient.updateContainer(
                    uuid,
                    ["state": .string("Complete"), "exit_code": .int(0)]
                )
            }
            try await queue.update()
            let entries = await queue.entries().entries
            #expect(entries.count == 45)
            #expect(entries.values.allSatisfy { $0.container.state == .complete })
        }
    }

    /// Passes every request on and records every request's path, and each container list's URL (decoded) and how
    /// many items it returned.
    final class RecordingTransport: ArvadosTransport {
        let base = AsyncHTTPClientTransport()
        let lists = Mutex<[(url: String, items: Int)]>([])
        let paths = Mutex<[String]>([])

        func send(_ request: ArvadosHTTPRequest) async throws(ArvadosAPIError) -> ArvadosHTTPResponse {
            self.paths.withLock { $0.append(request.url.path) }
            let response = try await self.base.send(request)
            if request.method == "GET", request.url.path.hasSuffix("/arvados/v1/containers") {
                let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
                let items = (object?["items"] as? [Any])?.count ?? -1
                self.lists.withLock { $0.append((request.url.absoluteString.removingPercentEncoding ?? "", items)) }
            }
            return response
        }
    }

    @Test("A lock of a container the cache shows locked by this dispatcher asks the API nothing")
    func lockOfOwnLockedIsNoOp() async throws {
        try await EmbeddedContainerAPI.with { api in
            let transport = RecordingTransport()
            let queue = ContainerQueue(
                client: ArvadosClient(baseURL: api.url, token: api.rootToken, transport: transport),
                chooser: Self.menu,
                clock: ManualClock(),
                logger: Logger(label: "queue-test")
            )
            let uuid = try #require(try await Self.create(api, count: 1).first)
            try await queue.update()
            try await queue.lock(uuid)
            // A pass that planned on a snapshot taken before the first lock's answer locks it again.
            try await queue.lock(uuid)
            let locks = transport.paths.withLock { $0 }.filter { $0.hasSuffix("/lock") }
            #expect(locks.count == 1, "\(locks)")
            #expect(await queue.entry(uuid)?.container.state == .locked)
            // Once unlocked, a lock asks the API again.
            try await queue.unlock(uuid)
            try await queue.lock(uuid)
            #expect(transport.paths.withLock { $0 }.filter { $0.hasSuffix("/lock") }.count == 2)
        }
    }

    @Test(
        "With every change pushed, cached Queued containers past the Queued list are kept as pushed, not fetched",
        arguments: [true, false]
    )
    func pushedQueuedKeptWithoutFetch(pushesAreComplete: Bool) async throws {
        try await EmbeddedContainerAPI.with { api in
            let transport = RecordingTransport()
            let queue = Self.queue(api, transport: transport) { configuration in
                configuration.queuedTarget = 5
                configuration.pageSize = 5
                configuration.pushesAreComplete = pushesAreComplete
            }
            try await queue.update()
            // 45 Queued containers, all cached through pushes as the embedded API's change feed brings them.
            let uuids = try await Self.create(api, count: 45)
            var records: [Container] = []
            for uuid in uuids { records.append(try await api.rootClient.container(uuid)) }
            await queue.applyPushed(records, complete: nil)
            transport.lists.withLock { $0 = [] }
            try await queue.update()
            let lists = transport.lists.withLock { $0 }
            // Its own locks and one page of the Queued list; without complete pushes, the 40 past that page are
            // asked for again by UUID, 20 at a time (in pages of 5 here).
            if pushesAreComplete {
                #expect(lists.count == 2, "\(lists)")
            } else {
                #expect(lists.count == 12, "\(lists)")
            }
            let entries = await queue.entries().entries
            #expect(Set(entries.keys) == Set(uuids))
            #expect(entries.values.allSatisfy { $0.container.state == .queued })
        }
    }

    @Test(
        "With every change pushed, a poll asks only for what changed since the last one and keeps the rest as pushed",
        arguments: [true, false]
    )
    func pushedPollAsksOnlyForChanges(pushesAreComplete: Bool) async throws {
        try await EmbeddedContainerAPI.with { api in
            let transport = RecordingTransport()
            let queue = Self.queue(api, transport: transport) { configuration in
                configuration.pushesAreComplete = pushesAreComplete
                configuration.pushedChangeMargin = .zero
            }
            let uuids = try await Self.create(api, count: 3)
            try await queue.update()
            for uuid in uuids { try await queue.lock(uuid) }
            transport.lists.withLock { $0 = [] }
            // The first poll after the locks reads all three: their changes came after the last poll began.
            try await queue.update()
            #expect(transport.lists.withLock { $0 }.map(\.items).reduce(0, +) == 3)
            // One changes in the API after that poll began (its push is what a feed would bring).
            let changed = uuids[1]
            _ = try await api.rootClient.updateContainer(changed, ["state": .string("Running")])
            transport.lists.withLock { $0 = [] }
            try await queue.update()
            let lists = transport.lists.withLock { $0 }
            let returned = lists.map(\.items).reduce(0, +)
            if pushesAreComplete {
                #expect(lists.allSatisfy { Self.filters(of: $0.url).contains("modified_at") }, "\(lists.map(\.url))")
                #expect(returned == 1, "\(lists)")
            } else {
                // Every container is asked for, whenever modified (a poll selects `modified_at`, but filters on it
                // only over complete pushes).
                #expect(!lists.contains { Self.filters(of: $0.url).contains("modified_at") }, "\(lists.map(\.url))")
                #expect(returned == 3, "\(lists)")
            }
            // Either way the cache has all three, the changed one as the API has it now.
            let entries = await queue.entries().entries
            #expect(Set(entries.keys) == Set(uuids))
            #expect(entries[changed]?.container.state == .running)
            #expect(uuids.filter { $0 != changed }.allSatisfy { entries[$0]?.container.state == .locked })
        }
    }

    @Test("A container that became final stays cached through polls until the scheduler forgets it")
    func finalStaysUntilForgotten() async throws {
        try await EmbeddedContainerAPI.with { api in
            let uuid = try #require(try await Self.create(api, count: 1).first)
            let queue = Self.queue(api)
            try await queue.update()
            try await queue.lock(uuid)
            _ = try await api.rootClient.updateContainer(uuid, ["state": .string("Running")])
            _ = try await api.rootClient.updateContainer(uuid, ["state": .string("Complete"), "exit_code": .int(0)])
            await queue.applyPushed([try await api.rootClient.container(uuid)], complete: nil)
            // Neither list returns it now: the poll keeps it for the scheduler, which tells the pool its runner
            // is finishing before it forgets the container.
            try await queue.update()
            #expect(await queue.entry(uuid)?.container.state == .complete)
            await queue.forget(uuid)
            #expect(await queue.entry(uuid) == nil)
        }
    }

    @Test("Only final or Queued priority-0 containers can be forgotten")
    func forgetRules() async throws {
        try await EmbeddedContainerAPI.with { api in
            let queued = try await api.createContainer(command: ["true"])
            let queue = Self.queue(api)
            try await queue.update()
            await queue.forget(queued.uuid)
            #expect(await queue.entry(queued.uuid) != nil)
        }
    }

    @Test("Pushed records update cached containers and add new ones without a fetch; the threshold follows")
    func pushedChanges() async throws {
        try await EmbeddedContainerAPI.with { api in
            let clock = ManualClock()
            let wall = clock.wallClock()
            let queue = ContainerQueue(
                client: api.rootClient,
                chooser: Self.menu,
                clock: clock,
                wallClock: wall,
                logger: Logger(label: "queue-test")
            )
            let cached = try await api.createContainer(command: ["true"])
            // Before the first poll, pushes are applied but do not move the threshold.
            await queue.applyPushed([], complete: wall())
            #expect(await queue.entries().threshold == nil)
            try await queue.update()
            let polledAt = try #require(await queue.entries().threshold)

            // New containers, seen only through pushes: the records' own mounts decide the instance type.
            let fresh = try await api.createContainer(
                command: ["true"],
                [
                    "runtime_constraints": .object(["vcpus": .int(2), "ram": .int(1 << 30)]),
                    "mounts": .object(["/tmp": .object(["kind": .string("tmp"), "capacity": .int(1 << 30)])]),
                ]
            )
            var others = try await api.createContainer(command: ["true"])
            others.state = .locked
            others.lockedByUUID = "zzzzz-gj3su-someoneelse0000"
            var zero = try await api.createContainer(command: ["true"], priority: 0)
            zero.priority = 0
            var complete = cached
            complete.state = .complete
            complete.exitCode = 0
            clock.advance(by: .seconds(1))
            await queue.applyPushed([fresh, others, zero, complete], complete: wall())

            let entries = await queue.entries()
            #expect(entries.threshold == wall())
            #expect(entries.threshold != polledAt)
            let entry = try #require(entries.entries[fresh.uuid])
            #expect(entry.instanceTypes.map(\.name) == ["type2"])
            #expect(entry.resources.scratch == .giB(1))
            #expect(entry.container.mounts.isEmpty)
            #expect(entries.entries[others.uuid] == nil, "locked by another dispatcher")
            #expect(entries.entries[zero.uuid] == nil, "priority 0")
            #expect(entries.entries[cached.uuid]?.container.state == .complete)
            #expect(entries.entries[cached.uuid]?.instanceTypes.isEmpty == false, "kept from first sight")

            // An older instant never moves the threshold back.
            await queue.applyPushed([], complete: polledAt)
            #expect(await queue.entries().threshold == wall())
        }
    }

    @Test("A pushed record and a lock's answer, whole records with mounts, are cached without their mounts")
    func cachedWithoutMounts() async throws {
        try await EmbeddedContainerAPI.with { api in
            let container = try await api.createContainer(
                command: ["true"],
                ["mounts": .object(["/tmp": .object(["kind": .string("tmp"), "capacity": .int(1 << 30)])])]
            )
            let queue = Self.queue(api)
            try await queue.update()
            var record = try await api.rootClient.container(container.uuid)
            #expect(!record.mounts.isEmpty)
            record.priority = 7
            await queue.applyPushed([record], complete: nil)
            #expect(await queue.entry(container.uuid)?.container.priority == 7)
            #expect(await queue.entry(container.uuid)?.container.mounts.isEmpty == true)
            try await queue.lock(container.uuid)
            #expect(await queue.entry(container.uuid)?.container.state == .locked)
            #expect(await queue.entry(container.uuid)?.container.mounts.isEmpty == true)
        }
    }

    @Test("The lock's answer and the same record pushed by the change feed wake the scheduler once, not twice")
    func lockNotifiesOnce() async throws {
        try await EmbeddedContainerAPI.with { api in
            let queue = Self.queue(api)
            let container = try await api.createContainer(command: ["true"])
            try await queue.update()
            let changes = api.changes()
            var pushed = changes.makeAsyncIterator()
            let before = await queue.notifications
            try await queue.lock(container.uuid)
            #expect(await queue.notifications == before + 1)
            #expect(await queue.entry(container.uuid)?.container.state == .locked)
            // The record the store committed for the lock, as the embedded dispatcher's feed delivers it.
            let committed = try #require(await pushed.next()).last { $0.uuid == container.uuid }
            let record = try #require(committed)
            #expect(record.state == .locked)
            await queue.applyPushed([record], complete: nil)
            #expect(await queue.notifications == before + 1, "the same record again changes nothing")
            // A record that differs still notifies.
            var raised = record
            raised.priority = 7
            await queue.applyPushed([raised], complete: nil)
            #expect(await queue.notifications == before + 2)
            #expect(await queue.entry(container.uuid)?.container.priority == 7)
        }
    }

    @Test("A subscription whose stream is dropped is removed at once")
    func droppedSubscription() async throws {
        try await EmbeddedContainerAPI.with { api in
            let queue = Self.queue(api)
            var stream: AsyncStream<Void>? = await queue.subscribe()
            #expect(stream != nil)
            #expect(queue.subscriberCount == 1)
            stream = nil
            #expect(queue.subscriberCount == 0)
        }
    }

    @Test("Subscribers hear of every update")
    func notifications() async throws {
        try await EmbeddedContainerAPI.with { api in
            let queue = Self.queue(api)
            let stream = await queue.subscribe()
            for _ in 0..<3 { try await queue.update() }
            var iterator = stream.makeAsyncIterator()
            #expect(await iterator.next() != nil)
            // Three updates, one buffered notification: a fourth update is needed for another.
            try await queue.update()
            #expect(await iterator.next() != nil)
        }
    }
}

/// The cache's list for passes holds exactly the cached entries, each once, whatever is stored and dropped, and a
/// removal moves no entry but the last.
@Suite("Queue cache's list")
struct QueueCacheListTests {
    @Test("Holds each cached entry once through random stores and removals")
    func listMatchesCache() {
        FuzzBudget(name: "queue-cache-list", defaultCases: 100).run { random in
            var entries = ContainerQueue<ContinuousClock>.Entries()
            for step in 0..<Int.random(in: 1...400, using: &random) {
                let uuid = ContainerUUID(rawValue: "zzzzz-dz642-\(String(Int.random(in: 0..<150, using: &random)))")
                let before = entries.list.map(\.uuid)
                if Int.random(in: 0..<3, using: &random) == 0 {
                    entries[uuid] = nil
                } else {
                    entries[uuid] = QueueEntry(
                        container: Container(uuid: uuid, state: .queued, priority: step),
                        instanceTypes: [],
                        resources: InstanceResources(vcpus: 1, ram: .giB(1)),
                        firstSeenAt: Timestamp(secondsSince1970: 1_800_000_000)
                    )
                }
                let after = entries.list.map(\.uuid)
                #expect(Set(after) == Set(entries.byUUID.keys) && after.count == entries.byUUID.count)
                for entry in entries.list {
                    #expect(entries[entry.uuid]?.container.priority == entry.container.priority)
                }
                // Every entry that stayed keeps its place, but the one moved into a removed entry's.
                let moved = zip(before, after).filter { $0 != $1 }.count
                #expect(moved <= 1)
            }
        }
    }
}
