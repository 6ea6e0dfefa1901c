public import ArvadosAPI
public import DispatchModel

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The container API in memory, answering ``ArvadosClient`` requests in this process: the embedded API's
/// rules (``ContainerRules``: create, update, lock, unlock; tokens, admission, list parameters) over
/// dictionaries instead of SQLite, with no socket, thread or timer of its own.
///
/// For simulations (`dispatch-cloud simulate`), where the dispatcher's queue and the simulated runners must
/// talk to an API on a virtual clock, fast and in a repeatable order. It serves what the dispatcher and
/// runners call: containers (list, get, create, update, lock, unlock), `api_client_authorizations/current`
/// and creating logs (which it counts but does not keep). Timestamps come from `wallClock`; container UUIDs
/// are numbered, so a run repeats exactly.
public actor InMemoryContainerAPI: ArvadosContainerSource {
    /// A change to containers, as the embedded API's change feed pushes it.
    public struct Change: Sendable {
        public var containers: [Container]
        /// The change's number: 1, 2, 3…; ``InMemoryContainerAPI/sequence`` is the latest.
        public var sequence: UInt64
    }

    private let clusterID: ClusterID
    private let tokens: TokenDirectory
    private let admission: InstanceTypeChooser?
    private let maxDispatchAttempts: Int
    private let wallClock: @Sendable () -> Timestamp
    private var stored: [ContainerUUID: StoredContainer] = [:]
    /// The containers in each state, for the state filters the dispatcher's polls use.
    private var byState: [ContainerState: Set<ContainerUUID>] = [:]
    /// The containers locked by each token, for the dispatcher's `locked_by_uuid` polls.
    private var byLocker: [String: Set<ContainerUUID>] = [:]
    /// Each container's modification times (whole microseconds since 1970) with its UUID, sorted by time: the
    /// candidates of a `modified_at >=` or `>` filter, which a poll over complete pushes adds to its lists (what
    /// changed in the last seconds). A container modified again keeps its older entries until there are twice as
    /// many entries as containers; a list checks every filter on every candidate, so an old entry costs a look-up,
    /// never a wrong answer.
    private var byModified: [(time: Int64, uuid: ContainerUUID)] = []
    private var nextNumber = 0
    private var changeContinuation: AsyncStream<Change>.Continuation
    /// Every container change, in commit order (one consumer; unbounded).
    public nonisolated let changes: AsyncStream<Change>
    /// The number of the latest change.
    public private(set) var sequence: UInt64 = 0
    /// The number of log records written.
    public private(set) var logCount = 0
    /// The number of requests served.
    public private(set) var requestCount = 0

    /// - Parameters:
    ///   - systemRootToken: the dispatcher's (and runners') token.
    ///   - submitterTokens: tokens that may create containers.
    ///   - admission: refuses at create what no instance type can run, as the embedded API does.
    public init(
        clusterID: ClusterID,
        systemRootToken: String,
        submitterTokens: [String] = [],
        admission: InstanceTypeChooser? = nil,
        maxDispatchAttempts: Int = 5,
        wallClock: @escaping @Sendable () -> Timestamp
    ) {
        self.clusterID = clusterID
        self.tokens = TokenDirectory(
            clusterID: clusterID,
            systemRootToken: systemRootToken,
            submitterTokens: submitterTokens
        )
        self.admission = admission
        self.maxDispatchAttempts = maxDispatchAttempts
        // Whole microseconds, the precision the embedded API's timestamps keep: a record then equals what its JSON
        // text decodes to, so a typed list, a pushed record and a JSON answer agree.
        self.wallClock = {
            let now = wallClock()
            return Timestamp(secondsSince1970: now.secondsSince1970, nanoseconds: now.nanoseconds / 1000 * 1000)
        }
        (self.changes, self.changeContinuation) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
    }

    /// Ends ``changes``.
    public func finish() { self.changeContinuation.finish() }

    /// A container by UUID.
    public func container(_ uuid: ContainerUUID) -> Container? { self.stored[uuid]?.container }

    /// The number of containers in `state`.
    public func count(in state: ContainerState) -> Int { self.byState[state]?.count ?? 0 }

    // MARK: Transport

    public func send(_ request: ArvadosHTTPRequest) async throws(ArvadosAPIError) -> ArvadosHTTPResponse {
        switch self.answer(request, typed: false) {
        case .handled(.document(let body)): ArvadosHTTPResponse(status: 200, body: body)
        case .handled(.record(let stored)): ArvadosHTTPResponse(status: 200, body: stored.document)
        case .refused(let response): response
        }
    }

    /// The record itself for a create, read (without `select`), update, lock or unlock: the stored record, which
    /// equals what its document decodes to (whole-microsecond times, and fields set through a JSON round trip).
    public func answerWithContainer(
        _ request: ArvadosHTTPRequest
    ) async throws(ArvadosAPIError) -> ArvadosContainerAnswer {
        switch self.answer(request, typed: true) {
        case .handled(.document(let body)): .response(ArvadosHTTPResponse(status: 200, body: body))
        case .handled(.record(let stored)): .container(stored.container)
        case .refused(let response): .response(response)
        }
    }

    /// A request handled, or refused with its error answer.
    private enum Answer {
        case handled(Handled)
        case refused(ArvadosHTTPResponse)
    }

    /// Counts and handles `request`; `typed` answers container records as values.
    private func answer(_ request: ArvadosHTTPRequest, typed: Bool) -> Answer {
        self.requestCount += 1
        do throws(ContainerAPIError) {
            return .handled(try self.handle(request, typed: typed))
        } catch {
            let body = WireJSON.bytes(
                .object(["errors": .array([.string(error.message)]), "error_token": .string("in-memory")])
            )
            return .refused(ArvadosHTTPResponse(status: error.code.httpStatus, body: body))
        }
    }

    /// What a request is answered with: JSON, or (asked typed) a container record.
    private enum Handled {
        case document([UInt8])
        case record(StoredContainer)
    }

    private func handle(_ request: ArvadosHTTPRequest, typed: Bool) throws(ContainerAPIError) -> Handled {
        let components = URLComponents(url: request.url, resolvingAgainstBaseURL: false)
        let parameters = try RequestParameters.parse(
            query: components?.percentEncodedQuery,
            body: request.body ?? [],
            contentType: request.headers.first { $0.name.lowercased() == "content-type" }?.value
        )
        let caller = try self.caller(request)
        var path = request.url.path.split(separator: "/").map(String.init)
        guard path.count >= 3, path[0] == "arvados", path[1] == "v1" else {
            throw ContainerAPIError(.notFound, "Not found: \(request.url.path)")
        }
        path.removeFirst(2)
        var method = request.method.uppercased()
        if method == "POST", parameters["_method"]?.stringValue?.uppercased() == "GET" { method = "GET" }
        switch (method, path[0], path.count) {
        case ("GET", "containers", 1):
            return .document(try self.list(parameters, caller: caller))
        case ("POST", "containers", 1):
            guard let attributes = parameters["container"]?.objectValue else {
                throw ContainerAPIError(.unprocessable, "The request needs a \"container\" object parameter")
            }
            return Self.answer(try self.create(attributes, caller: caller), typed: typed)
        case ("GET", "containers", 2):
            let current = try self.visible(path[1], caller: caller)
            return try Self.answer(current, parameters, typed: typed)
        case ("PUT", "containers", 2), ("PATCH", "containers", 2):
            guard let attributes = parameters["container"]?.objectValue else {
                throw ContainerAPIError(.unprocessable, "The request needs a \"container\" object parameter")
            }
            let now = self.wallClock()
            let next = try self.changeStored(path[1], caller: caller) { current throws(ContainerAPIError) in
                try ContainerRules.update(
                    current.container,
                    with: attributes,
                    by: caller,
                    now: now,
                    document: current.document
                )
            }
            return try Self.answer(next, parameters, typed: typed)
        case ("POST", "containers", 3) where path[2] == "lock":
            let now = self.wallClock()
            let next = try self.change(path[1], caller: caller) { current throws(ContainerAPIError) in
                try ContainerRules.lock(current, by: caller, now: now)
            }
            return Self.answer(next, typed: typed)
        case ("POST", "containers", 3) where path[2] == "unlock":
            let now = self.wallClock()
            let attempts = self.maxDispatchAttempts
            let requeueRunning = RequestHandlers.requeueRunning(parameters)
            let next = try self.change(path[1], caller: caller) { current throws(ContainerAPIError) in
                try ContainerRules.unlock(
                    current,
                    by: caller,
                    maxDispatchAttempts: attempts,
                    requeueRunning: requeueRunning,
                    now: now
                )
            }
            return Self.answer(next, typed: typed)
        case ("GET", "api_client_authorizations", 2) where path[1] == "current":
            return .document(
                WireJSON.bytes(
                    .object([
                        "kind": .string("arvados#apiClientAuthorization"),
                        "uuid": .string(caller.tokenUUID),
                        "owner_uuid": .string(caller.userUUID),
                        "scopes": .array([.string("all")]),
                    ])
                )
            )
        case ("POST", "logs", 1):
            guard let log = parameters["log"]?.objectValue, let object = log["object_uuid"]?.stringValue else {
                throw ContainerAPIError(.unprocessable, "The request needs a \"log\" object parameter")
            }
            _ = try self.visible(object, caller: caller)
            self.logCount += 1
            return .document(WireJSON.bytes(.object(["kind": .string("arvados#log"), "object_uuid": .string(object)])))
        default:
            throw ContainerAPIError(.notFound, "Not served by the in-memory API: \(method) \(request.url.path)")
        }
    }

    /// The caller, by the embedded API's token rule (``RequestHandlers/credential(authorization:query:cookie:)``).
    private func caller(_ request: ArvadosHTTPRequest) throws(ContainerAPIError) -> Caller {
        func header(_ name: String) -> String? { request.headers.first { $0.name.lowercased() == name }?.value }
        let credential = RequestHandlers.credential(
            authorization: header("authorization"),
            query: request.url.query,
            cookie: header("cookie")
        )
        guard case .token(let token) = credential,
            let caller = self.tokens.caller(for: token)
        else { throw ContainerAPIError(.unauthorized, "Not logged in") }
        return caller
    }

    // MARK: Containers

    /// Creates a Queued container as `caller` (a submitter token's or the root token's caller).
    public func create(_ attributes: [String: JSONValue], token: String) throws(ContainerAPIError) -> Container {
        guard let caller = self.tokens.caller(for: token) else {
            throw ContainerAPIError(.unauthorized, "Not logged in")
        }
        return try self.create(attributes, caller: caller).container
    }

    private func create(_ attributes: [String: JSONValue], caller: Caller) throws(ContainerAPIError) -> StoredContainer
    {
        self.nextNumber += 1
        let uuid = ContainerUUID(rawValue: Self.uuid(cluster: self.clusterID, number: self.nextNumber))
        let container = try ContainerRules.makeContainer(
            attributes: attributes,
            uuid: uuid,
            caller: caller,
            now: self.wallClock()
        )
        if let admission = self.admission {
            do throws(InstanceTypeChoiceError) {
                _ = try admission.eligibleTypes(for: container)
            } catch {
                throw ContainerAPIError(.unprocessable, ContainerRules.unsatisfiable(container, error, by: admission))
            }
        }
        let stored = try ContainerStore.stored(container, newEtag: true)
        self.put(stored)
        return stored
    }

    /// `<cluster>-dz642-<number in base 36, 15 digits>`.
    static func uuid(cluster: ClusterID, number: Int) -> String {
        let digits = String(number, radix: 36)
        return
            "\(cluster)-\(ContainerUUID.typeInfix)-\(String(repeating: "0", count: max(0, 15 - digits.count)))\(digits)"
    }

    private func visible(_ uuid: String, caller: Caller) throws(ContainerAPIError) -> StoredContainer {
        guard let current = self.stored[ContainerUUID(rawValue: uuid)],
            ContainerRules.canSee(current.container, caller: caller)
        else { throw ContainerAPIError(.notFound, "Container \(uuid) not found") }
        return current
    }

    private func change(
        _ uuid: String,
        caller: Caller,
        _ rule: (Container) throws(ContainerAPIError) -> Container
    ) throws(ContainerAPIError) -> StoredContainer {
        try self.changeStored(uuid, caller: caller) { current throws(ContainerAPIError) in try rule(current.container) }
    }

    /// ``change(_:caller:_:)`` with a rule that reads the stored record (its JSON too).
    private func changeStored(
        _ uuid: String,
        caller: Caller,
        _ rule: (StoredContainer) throws(ContainerAPIError) -> Container
    ) throws(ContainerAPIError) -> StoredContainer {
        let current = try self.visible(uuid, caller: caller)
        let next = try rule(current)
        guard next != current.container else { return current }
        let stored = try ContainerStore.stored(next, newEtag: true)
        self.put(stored)
        return stored
    }

    private func put(_ stored: StoredContainer) {
        let uuid = stored.container.uuid
        if let previous = self.stored[uuid]?.container {
            self.byState[previous.state]?.remove(uuid)
            if let locker = previous.lockedByUUID { self.byLocker[locker]?.remove(uuid) }
        }
        self.byState[stored.container.state, default: []].insert(uuid)
        if let locker = stored.container.lockedByUUID { self.byLocker[locker, default: []].insert(uuid) }
        let modified = stored.container.modifiedAt?.microseconds
        let previouslyModified = self.stored[uuid]?.container.modifiedAt?.microseconds
        self.stored[uuid] = stored
        if let modified, modified != previouslyModified { self.noteModified(uuid, at: modified) }
        self.sequence += 1
        self.changeContinuation.yield(Change(containers: [stored.container], sequence: self.sequence))
    }

    private func noteModified(_ uuid: ContainerUUID, at time: Int64) {
        if let last = self.byModified.last, last.time > time {
            // A wall clock that stepped back: kept sorted all the same.
            self.byModified.insert((time, uuid), at: self.firstModified(after: time))
        } else {
            self.byModified.append((time, uuid))
        }
        if self.byModified.count > 2 * self.stored.count + 1024 {
            self.byModified = self.stored.compactMap { uuid, stored in
                stored.container.modifiedAt.map { (time: $0.microseconds, uuid: uuid) }
            }
            self.byModified.sort { ($0.time, $0.uuid.rawValue) < ($1.time, $1.uuid.rawValue) }
        }
    }

    /// The position of the first entry of ``byModified`` at `time` or later.
    private func firstModified(atOrAfter time: Int64) -> Int {
        self.byModified.partitioningIndex { $0.time >= time }
    }

    /// The position of the first entry of ``byModified`` later than `time`.
    private func firstModified(after time: Int64) -> Int {
        self.byModified.partitioningIndex { $0.time > time }
    }

    /// A stored record as the answer to a create, lock or unlock.
    private static func answer(_ stored: StoredContainer, typed: Bool) -> Handled {
        typed ? .record(stored) : .document(stored.document)
    }

    /// A stored record as the answer to a read or update with `parameters` (whose `select` a typed answer leaves
    /// to the JSON).
    private static func answer(
        _ stored: StoredContainer,
        _ parameters: [String: JSONValue],
        typed: Bool
    ) throws(ContainerAPIError) -> Handled {
        if typed && parameters["select"] == nil { return .record(stored) }
        return .document(try Self.rendered(stored, parameters))
    }

    private static func rendered(
        _ stored: StoredContainer,
        _ parameters: [String: JSONValue]
    ) throws(ContainerAPIError) -> [UInt8] {
        try RequestHandlers.checkSelect(parameters["select"], allowed: ContainerRules.fieldSet)
        let selection = RenderedJSON.Selection(parameters["select"]?.arrayValue?.compactMap(\.stringValue))
        return RenderedJSON.object(stored.document, selection: selection)
    }

    // MARK: Lists

    private func list(_ parameters: [String: JSONValue], caller: Caller) throws(ContainerAPIError) -> [UInt8] {
        let query = try ListQuery(parameters: parameters, schema: .containers, maxLimit: 1000)
        let (page, available) = try self.page(query, caller: caller)
        let selection = RenderedJSON.Selection(query.select)
        var items: [UInt8] = [UInt8(ascii: "[")]
        for (index, stored) in page.enumerated() {
            if index > 0 { items.append(UInt8(ascii: ",")) }
            stored.document.withUnsafeBytes { RenderedJSON.appendObject($0, selection: selection, to: &items) }
        }
        items.append(UInt8(ascii: "]"))
        return RenderedJSON.listEnvelope(
            kind: ListSchema.containers.listKind,
            items: items,
            available: query.countItems ? available : nil,
            offset: query.offset,
            limit: query.limit
        )
    }

    /// The containers a list query returns, and how many matched in all.
    private func page(
        _ query: ListQuery,
        caller: Caller
    ) throws(ContainerAPIError) -> (page: [StoredContainer], available: Int) {
        // Candidates from an index where a filter allows (the dispatcher's polls always do), else every container.
        let candidates: [ContainerUUID]
        // Only a `uuid in` list and the modification index can name a container twice; the other indexes and the
        // store's keys cannot.
        var mayRepeat = false
        // The containers modified since a `modified_at` bound, when that is the fewest candidates.
        var recent: Int?
        for filter in query.filters where filter.name == "modified_at" && (filter.op == ">=" || filter.op == ">") {
            if case .integer(let bound) = Self.operand(filter.operand, for: filter.name) {
                recent = max(recent ?? 0, self.firstModified(atOrAfter: bound))
            }
        }
        let recentCount = recent.map { self.byModified.count - $0 } ?? Int.max
        let state = query.filters.first(where: { $0.name == "state" && $0.op == "=" })?.operand.stringValue
            .map { ContainerState(rawValue: $0) }
        let locker = query.filters.first(where: { $0.name == "locked_by_uuid" && $0.op == "=" })?.operand.stringValue
        let uuids = query.filters.first(where: { $0.name == "uuid" && $0.op == "in" })?.operand.arrayValue
        if let state, (state.flatMap { self.byState[$0]?.count } ?? 0) <= recentCount {
            candidates = Array(state.flatMap { self.byState[$0] } ?? [])
        } else if let locker, (self.byLocker[locker]?.count ?? 0) <= recentCount {
            candidates = Array(self.byLocker[locker] ?? [])
        } else if let uuids, uuids.count <= recentCount {
            candidates = uuids.compactMap { $0.stringValue.map { ContainerUUID(rawValue: $0) } }
            mayRepeat = true
        } else if let recent {
            candidates = self.byModified[recent...].map(\.uuid)
            mayRepeat = true
        } else {
            candidates = Array(self.stored.keys)
        }
        var order = query.order.isEmpty ? ListSchema.containers.defaultOrder : query.order
        if !order.contains(ListSchema.containers.tiebreaker) { order.append(ListSchema.containers.tiebreaker) }
        // Each match with its sort keys, computed once (sorting the records themselves copied them at every swap).
        var matching: [(uuid: ContainerUUID, keys: [Value?])] = []
        var seen: Set<ContainerUUID> = []
        for uuid in candidates {
            // Read in place: a copy of each candidate's record (every Locked container, at every poll) cost more
            // than the filtering.
            guard let slot = self.stored.index(forKey: uuid), !mayRepeat || seen.insert(uuid).inserted,
                let keys = try Self.sortKeys(self.stored.values[slot].container, query, order: order, caller: caller)
            else { continue }
            matching.append((uuid, keys))
        }
        matching.sort { Self.precedes($0.keys, $1.keys, order: order) }
        let page = matching.dropFirst(query.offset).prefix(query.limit).compactMap { self.stored[$0.uuid] }
        return (page, matching.count)
    }

    // MARK: Typed lists

    /// The attributes a typed list can select: those the dispatcher's queue polls.
    static let typedAttributes: Set<String> = [
        "uuid", "state", "priority", "runtime_constraints", "container_image", "scheduling_parameters",
        "created_at", "locked_by_uuid", "modified_at",
    ]

    /// A container list answered with values: the same query rules, filters, order and paging as the JSON
    /// list, and records with only the selected attributes, as decoding the JSON list gives them. `nil` (send
    /// it as JSON) unless `select` names only ``typedAttributes``.
    public func containers(
        token: String,
        filters: [ArvadosFilter],
        order: [String],
        limit: Int?,
        offset: Int?,
        select: [String]?,
        count: String?
    ) throws(ArvadosAPIError) -> ArvadosList<Container>? {
        guard let select, !select.isEmpty, select.allSatisfy(Self.typedAttributes.contains) else { return nil }
        self.requestCount += 1
        var parameters: [String: JSONValue] = [:]
        if !filters.isEmpty {
            parameters["filters"] = .array(
                filters.map { .array([.string($0.attribute), .string($0.operator), $0.operand]) }
            )
        }
        if !order.isEmpty { parameters["order"] = .array(order.map { .string($0) }) }
        if let limit { parameters["limit"] = .int(Int64(limit)) }
        if let offset { parameters["offset"] = .int(Int64(offset)) }
        parameters["select"] = .array(select.map { .string($0) })
        if let count { parameters["count"] = .string(count) }
        do throws(ContainerAPIError) {
            guard let caller = self.tokens.caller(for: token) else {
                throw ContainerAPIError(.unauthorized, "Not logged in")
            }
            let query = try ListQuery(parameters: parameters, schema: .containers, maxLimit: 1000)
            let (page, available) = try self.page(query, caller: caller)
            return ArvadosList(
                kind: ListSchema.containers.listKind,
                items: page.map { Self.selecting(select, of: $0.container) },
                itemsAvailable: query.countItems ? available : nil,
                limit: query.limit,
                offset: query.offset
            )
        } catch {
            throw ArvadosAPIError(
                code: .forStatus(error.code.httpStatus),
                status: error.code.httpStatus,
                message: error.message
            )
        }
    }

    /// `container` with only `attributes` set (each one of ``typedAttributes``), the rest at the defaults a
    /// record decoded without them has.
    static func selecting(_ attributes: [String], of container: Container) -> Container {
        var selected = Container(uuid: "")
        for attribute in attributes {
            switch attribute {
            case "uuid": selected.uuid = container.uuid
            case "state": selected.state = container.state
            case "priority": selected.priority = container.priority
            case "runtime_constraints": selected.runtimeConstraints = container.runtimeConstraints
            case "container_image": selected.containerImage = container.containerImage
            case "scheduling_parameters": selected.schedulingParameters = container.schedulingParameters
            case "created_at": selected.createdAt = container.createdAt
            case "locked_by_uuid": selected.lockedByUUID = container.lockedByUUID
            case "modified_at": selected.modifiedAt = container.modifiedAt
            default: break
            }
        }
        return selected
    }

    /// A filterable attribute of a container, as a comparable value.
    private enum Value: Comparable {
        case null
        case integer(Int64)
        case text(String)
    }

    private static func value(_ container: Container, _ name: String) throws(ContainerAPIError) -> Value {
        switch name {
        case "uuid": return .text(container.uuid.rawValue)
        case "owner_uuid": return container.ownerUUID.map(Value.text) ?? .null
        case "locked_by_uuid": return container.lockedByUUID.map(Value.text) ?? .null
        case "state": return .text(container.state.rawValue)
        case "container_image": return .text(container.containerImage)
        case "priority": return .integer(Int64(container.priority))
        case "lock_count": return .integer(Int64(container.lockCount))
        case "exit_code": return container.exitCode.map { .integer(Int64($0)) } ?? .null
        case "created_at": return container.createdAt.map { .integer($0.microseconds) } ?? .null
        case "modified_at": return container.modifiedAt.map { .integer($0.microseconds) } ?? .null
        default: throw ContainerAPIError(.unprocessable, "The in-memory API cannot filter or order on \(name)")
        }
    }

    private static func operand(_ value: JSONValue, for name: String) -> Value {
        switch value {
        case .null: return .null
        case .int(let number): return .integer(number)
        case .double(let number): return .integer(Int64(exactly: number.rounded(.down)) ?? 0)
        case .string(let text):
            if name == "created_at" || name == "modified_at", let timestamp = Timestamp(rfc3339: text) {
                return .integer(timestamp.microseconds)
            }
            return .text(text)
        default: return .null
        }
    }

    private static func matches(_ container: Container, _ filter: ListQuery.Filter) throws(ContainerAPIError) -> Bool {
        let value = try Self.value(container, filter.name)
        switch filter.op {
        case "=": return value == Self.operand(filter.operand, for: filter.name)
        case "!=", "<>": return value != Self.operand(filter.operand, for: filter.name)
        case "<": return value < Self.operand(filter.operand, for: filter.name)
        case "<=": return value <= Self.operand(filter.operand, for: filter.name)
        case ">": return value > Self.operand(filter.operand, for: filter.name) && value != .null
        case ">=": return value >= Self.operand(filter.operand, for: filter.name) && value != .null
        case "in", "not in":
            let members = (filter.operand.arrayValue ?? []).map { Self.operand($0, for: filter.name) }
            return members.contains(value) == (filter.op == "in")
        default:
            throw ContainerAPIError(.unprocessable, "The in-memory API does not take the operator \(filter.op)")
        }
    }

    /// A container's sort keys for a list query, or `nil` if the caller may not see it or a filter leaves it out.
    private static func sortKeys(
        _ container: Container,
        _ query: ListQuery,
        order: [ListQuery.OrderTerm],
        caller: Caller
    ) throws(ContainerAPIError) -> [Value?]? {
        guard ContainerRules.canSee(container, caller: caller) else { return nil }
        for filter in query.filters where !(try Self.matches(container, filter)) { return nil }
        return order.map { try? Self.value(container, $0.column) }
    }

    private static func precedes(_ a: [Value?], _ b: [Value?], order: [ListQuery.OrderTerm]) -> Bool {
        for (index, term) in order.enumerated() {
            guard let left = a[index], let right = b[index] else { continue }
            if left == right { continue }
            return term.descending ? right < left : left < right
        }
        return false
    }
}
