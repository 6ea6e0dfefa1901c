public import DispatchModel

/// One Arvados list filter: `[attribute, operator, operand]`.
public struct ArvadosFilter: Hashable, Sendable, Encodable {
    public var attribute: String
    public var `operator`: String
    public var operand: JSONValue

    public init(_ attribute: String, _ operator: String, _ operand: JSONValue) {
        self.attribute = attribute
        self.operator = `operator`
        self.operand = operand
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(self.attribute)
        try container.encode(self.operator)
        try container.encode(self.operand)
    }
}

/// One page of a list call: Arvados's list envelope.
public struct ArvadosList<Item: Decodable & Sendable>: Decodable, Sendable {
    public var kind: String?
    public var items: [Item]
    /// Present unless the call asked for `count=none`.
    public var itemsAvailable: Int?
    public var limit: Int?
    public var offset: Int?

    enum CodingKeys: String, CodingKey {
        case kind, items, limit, offset
        case itemsAvailable = "items_available"
    }

    public init(kind: String?, items: [Item], itemsAvailable: Int?, limit: Int?, offset: Int?) {
        self.kind = kind
        self.items = items
        self.itemsAvailable = itemsAvailable
        self.limit = limit
        self.offset = offset
    }
}

/// A log record (`logs` resource), as runners write container output.
public struct ArvadosLog: Codable, Hashable, Sendable {
    public var uuid: String?
    public var objectUUID: String
    public var eventType: String
    public var properties: [String: JSONValue]
    public var createdAt: Timestamp?

    public init(objectUUID: String, eventType: String, properties: [String: JSONValue]) {
        self.objectUUID = objectUUID
        self.eventType = eventType
        self.properties = properties
    }

    /// The text of a `stdout`/`stderr`/`crunch-run` log line batch.
    public var text: String? { self.properties["text"]?.stringValue }

    enum CodingKeys: String, CodingKey {
        case uuid, properties
        case objectUUID = "object_uuid"
        case eventType = "event_type"
        case createdAt = "created_at"
    }
}

/// The token's own record (`api_client_authorizations/current`).
public struct ArvadosAuthorization: Decodable, Hashable, Sendable {
    public var uuid: String
    public var ownerUUID: String?
    public var scopes: [String]?

    enum CodingKeys: String, CodingKey {
        case uuid, scopes
        case ownerUUID = "owner_uuid"
    }
}
