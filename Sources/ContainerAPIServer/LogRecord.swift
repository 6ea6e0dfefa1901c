public import DispatchModel

/// An Arvados log entry (`arvados#log`): an event about an object, such as a line of a container's stderr.
///
/// Runners stream container output with `event_type` `stdout`, `stderr` or `crunch-run` and the text in
/// `properties.text`.
public struct LogRecord: Hashable, Sendable, Codable {
    /// The server-assigned sequence number; later entries have larger ones.
    public var id: Int64?
    public var uuid: String
    public var etag: String?
    public var ownerUUID: String?
    public var modifiedByUserUUID: String?
    public var objectUUID: String?
    public var objectOwnerUUID: String?
    public var eventAt: Timestamp?
    public var eventType: String?
    public var summary: String?
    public var properties: [String: JSONValue]
    public var createdAt: Timestamp?
    public var modifiedAt: Timestamp?

    /// The attributes of `schemas.Log` in Arvados's discovery document, in its order.
    static let fields: [String] = [
        "etag", "id", "uuid", "owner_uuid", "modified_by_user_uuid", "object_uuid", "event_at", "event_type",
        "summary", "properties", "created_at", "modified_at", "object_owner_uuid",
    ]

    /// The attributes a create request may set.
    static let creatableFields: Set<String> = ["object_uuid", "event_at", "event_type", "summary", "properties"]

    public init(uuid: String, properties: [String: JSONValue] = [:]) {
        self.uuid = uuid
        self.properties = properties
    }

    enum CodingKeys: String, CodingKey {
        case id, uuid, etag, summary, properties
        case ownerUUID = "owner_uuid"
        case modifiedByUserUUID = "modified_by_user_uuid"
        case objectUUID = "object_uuid"
        case objectOwnerUUID = "object_owner_uuid"
        case eventAt = "event_at"
        case eventType = "event_type"
        case createdAt = "created_at"
        case modifiedAt = "modified_at"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            uuid: try c.decodeIfPresent(String.self, forKey: .uuid) ?? "",
            properties: try c.decodeIfPresent([String: JSONValue].self, forKey: .properties) ?? [:]
        )
        self.id = try c.decodeIfPresent(Int64.self, forKey: .id)
        self.etag = try c.decodeIfPresent(String.self, forKey: .etag)
        self.ownerUUID = try c.decodeIfPresent(String.self, forKey: .ownerUUID)
        self.modifiedByUserUUID = try c.decodeIfPresent(String.self, forKey: .modifiedByUserUUID)
        self.objectUUID = try c.decodeIfPresent(String.self, forKey: .objectUUID)
        self.objectOwnerUUID = try c.decodeIfPresent(String.self, forKey: .objectOwnerUUID)
        self.eventAt = try c.decodeIfPresent(Timestamp.self, forKey: .eventAt)
        self.eventType = try c.decodeIfPresent(String.self, forKey: .eventType)
        self.summary = try c.decodeIfPresent(String.self, forKey: .summary)
        self.createdAt = try c.decodeIfPresent(Timestamp.self, forKey: .createdAt)
        self.modifiedAt = try c.decodeIfPresent(Timestamp.self, forKey: .modifiedAt)
    }

    /// The record as a JSON object carrying every schema attribute, absent ones as `null`.
    func object() throws(ContainerAPIError) -> [String: JSONValue] {
        let encoded: JSONValue
        do {
            encoded = try WireJSON.value(of: self)
        } catch {
            throw ContainerAPIError(.internal, "Cannot encode log", cause: error)
        }
        var object = encoded.objectValue ?? [:]
        for field in Self.fields where object[field] == nil {
            object[field] = .null
        }
        WireJSON.normalizeTimestamps(in: &object, fields: ["created_at", "modified_at", "event_at"])
        return object
    }
}
