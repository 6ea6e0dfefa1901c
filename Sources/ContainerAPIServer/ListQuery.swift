import DispatchModel

/// The type of a filterable attribute, which decides the operators it takes and how operands convert.
enum AttributeKind: Sendable {
    /// Free text: comparisons, `in`, `like`, `ilike`.
    case text
    /// An Arvados UUID: as text, plus `is_a`.
    case uuid
    /// An integer: comparisons and `in`.
    case integer
    /// A timestamp, stored as microseconds since 1970: comparisons and `in` with RFC 3339 operands.
    case datetime
    /// A JSON object inside the stored document: `exists` only.
    case hash
}

/// One attribute that list calls may filter and order on, and the SQL column that holds it.
struct ListAttribute: Sendable {
    var column: String
    var kind: AttributeKind
}

/// What a resource offers to list calls: its table, its whitelisted attributes and its ordering.
struct ListSchema: Sendable {
    var table: String
    /// The `kind` of the list envelope, such as `arvados#containerList`.
    var listKind: String
    /// The attributes that may appear in `filters`, `where` and `order`, by API name.
    var attributes: [String: ListAttribute]
    /// The attributes that may appear in `select`.
    var selectable: Set<String>
    /// The order used when the request gives none.
    var defaultOrder: [ListQuery.OrderTerm]
    /// The last order term, which makes every order total so that `offset` pages do not overlap.
    var tiebreaker: ListQuery.OrderTerm

    static let containers = ListSchema(
        table: "containers",
        listKind: "arvados#containerList",
        attributes: [
            "uuid": .init(column: "uuid", kind: .uuid),
            "owner_uuid": .init(column: "owner_uuid", kind: .uuid),
            "locked_by_uuid": .init(column: "locked_by_uuid", kind: .uuid),
            "state": .init(column: "state", kind: .text),
            "container_image": .init(column: "container_image", kind: .text),
            "priority": .init(column: "priority", kind: .integer),
            "lock_count": .init(column: "lock_count", kind: .integer),
            "exit_code": .init(column: "exit_code", kind: .integer),
            "created_at": .init(column: "created_at", kind: .datetime),
            "modified_at": .init(column: "modified_at", kind: .datetime),
            "runtime_status": .init(column: "runtime_status", kind: .hash),
        ],
        selectable: ContainerRules.fieldSet,
        defaultOrder: [.init(column: "modified_at", descending: true)],
        tiebreaker: .init(column: "uuid", descending: false)
    )

    static let logs = ListSchema(
        table: "logs",
        listKind: "arvados#logList",
        attributes: [
            "id": .init(column: "id", kind: .integer),
            "uuid": .init(column: "uuid", kind: .uuid),
            "owner_uuid": .init(column: "owner_uuid", kind: .uuid),
            "object_uuid": .init(column: "object_uuid", kind: .uuid),
            "object_owner_uuid": .init(column: "object_owner_uuid", kind: .uuid),
            "event_type": .init(column: "event_type", kind: .text),
            "created_at": .init(column: "created_at", kind: .datetime),
            "properties": .init(column: "properties", kind: .hash),
        ],
        selectable: Set(LogRecord.fields),
        defaultOrder: [.init(column: "id", descending: true)],
        tiebreaker: .init(column: "id", descending: false)
    )
}

/// The parameters of an Arvados list call, checked against a resource's whitelist.
struct ListQuery: Sendable {
    /// One `[attribute, operator, operand]` filter.
    struct Filter: Sendable {
        var attribute: ListAttribute
        var name: String
        /// For a hash attribute, the key under it (`runtime_status.error`), if the filter names one.
        var key: String?
        var op: String
        var operand: JSONValue
    }

    struct OrderTerm: Sendable, Equatable {
        var column: String
        var descending: Bool
    }

    var filters: [Filter] = []
    var order: [OrderTerm] = []
    var limit: Int = 100
    var offset: Int = 0
    /// The attributes to return, or `nil` for all.
    var select: [String]?
    /// Whether to count every matching item (`count=exact`, the default) or not (`count=none`).
    var countItems = true

    static let operators: Set<String> = [
        "=", "!=", "<", "<=", ">", ">=", "in", "not in", "like", "ilike", "is_a", "exists",
    ]

    /// Parses the list parameters of a request.
    init(parameters: [String: JSONValue], schema: ListSchema, maxLimit: Int) throws(ContainerAPIError) {
        var filterList: [JSONValue] = []
        if let filters = parameters["filters"], !filters.isNull {
            filterList = try Self.array(filters, name: "filters")
        }
        var whereMembers: [String: JSONValue] = [:]
        if let whereValue = parameters["where"], !whereValue.isNull {
            guard let members = whereValue.objectValue else {
                throw ContainerAPIError(.unprocessable, "Invalid where: expected an object")
            }
            whereMembers = members
        }
        guard filterList.count + whereMembers.count <= RequestLimits.maxFilters else {
            throw ContainerAPIError(
                .unprocessable,
                "Invalid filters: \(filterList.count + whereMembers.count) filters given, "
                    + "at most \(RequestLimits.maxFilters) allowed"
            )
        }
        for element in filterList {
            self.filters.append(try Self.filter(element, schema: schema))
        }
        if !whereMembers.isEmpty {
            for (name, value) in whereMembers.sorted(by: { $0.key < $1.key }) {
                let op = value.arrayValue == nil ? "=" : "in"
                self.filters.append(try Self.filter(.array([.string(name), .string(op), value]), schema: schema))
            }
        }
        if let order = parameters["order"], !order.isNull {
            let terms: [JSONValue] = order.arrayValue ?? [order]
            for term in terms {
                guard let text = term.stringValue else {
                    throw ContainerAPIError(.unprocessable, "Invalid order: expected strings")
                }
                for part in text.split(separator: ",") {
                    guard self.order.count < RequestLimits.maxOrderTerms else {
                        throw ContainerAPIError(
                            .unprocessable,
                            "Invalid order: at most \(RequestLimits.maxOrderTerms) terms allowed"
                        )
                    }
                    self.order.append(try Self.orderTerm(String(part), schema: schema))
                }
            }
        }
        if self.order.isEmpty {
            self.order = schema.defaultOrder
        }
        if !self.order.contains(where: { $0.column == schema.tiebreaker.column }) {
            self.order.append(schema.tiebreaker)
        }
        if let limit = parameters["limit"], !limit.isNull {
            guard let value = limit.integerValue, value >= 0 else {
                throw ContainerAPIError(.unprocessable, "Invalid limit: must be a non-negative integer")
            }
            self.limit = Int(min(value, Int64(maxLimit)))
        }
        self.limit = min(self.limit, maxLimit)
        if let offset = parameters["offset"], !offset.isNull {
            guard let value = offset.integerValue, value >= 0, value <= Int64(Int32.max) else {
                throw ContainerAPIError(.unprocessable, "Invalid offset: must be a non-negative integer")
            }
            self.offset = Int(value)
        }
        if let select = parameters["select"], !select.isNull {
            var names: [String] = []
            let elements = try Self.array(select, name: "select")
            guard elements.count <= RequestLimits.maxSelectNames else {
                throw ContainerAPIError(
                    .unprocessable,
                    "Invalid select: \(elements.count) names given, at most \(RequestLimits.maxSelectNames) allowed"
                )
            }
            for element in elements {
                guard let name = element.stringValue, schema.selectable.contains(name) else {
                    throw ContainerAPIError(
                        .unprocessable,
                        "Invalid attribute \(WireJSON.string(element)) in select"
                    )
                }
                names.append(name)
            }
            self.select = names
        }
        if let count = parameters["count"], !count.isNull {
            switch count.stringValue {
            case "exact": self.countItems = true
            case "none": self.countItems = false
            default:
                throw ContainerAPIError(
                    .unprocessable,
                    "Invalid count \(WireJSON.string(count)): use \"exact\" or \"none\""
                )
            }
        }
    }

    private static func array(_ value: JSONValue, name: String) throws(ContainerAPIError) -> [JSONValue] {
        guard let elements = value.arrayValue else {
            throw ContainerAPIError(.unprocessable, "Invalid \(name): expected an array")
        }
        return elements
    }

    private static func filter(_ value: JSONValue, schema: ListSchema) throws(ContainerAPIError) -> Filter {
        guard let parts = value.arrayValue, parts.count == 3 else {
            throw ContainerAPIError(
                .unprocessable,
                "Invalid filter \(WireJSON.string(value)): expected [attribute, operator, operand]"
            )
        }
        guard let name = parts[0].stringValue else {
            throw ContainerAPIError(.unprocessable, "Invalid attribute \(WireJSON.string(parts[0])) in filter")
        }
        guard let op = parts[1].stringValue.map({ $0.lowercased() }), Self.operators.contains(op) else {
            throw ContainerAPIError(.unprocessable, "Invalid operator \(WireJSON.string(parts[1])) in filter")
        }
        var attributeName = name
        if attributeName.hasPrefix(schema.table + ".") {
            attributeName.removeFirst(schema.table.count + 1)
        }
        var key: String?
        if schema.attributes[attributeName] == nil, let dot = attributeName.firstIndex(of: ".") {
            key = String(attributeName[attributeName.index(after: dot)...])
            attributeName = String(attributeName[..<dot])
        }
        guard let attribute = schema.attributes[attributeName], key == nil || attribute.kind == .hash else {
            throw ContainerAPIError(.unprocessable, "Invalid attribute '\(name)' in filter")
        }
        return Filter(attribute: attribute, name: name, key: key, op: op, operand: parts[2])
    }

    private static func orderTerm(_ text: String, schema: ListSchema) throws(ContainerAPIError) -> OrderTerm {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard (1...2).contains(words.count) else {
            throw ContainerAPIError(.unprocessable, "Invalid order '\(text)'")
        }
        var name = words[0]
        if name.hasPrefix(schema.table + ".") {
            name.removeFirst(schema.table.count + 1)
        }
        guard let attribute = schema.attributes[name], attribute.kind != .hash else {
            throw ContainerAPIError(.unprocessable, "Invalid attribute '\(words[0])' in order")
        }
        let direction = words.count == 2 ? words[1].lowercased() : "asc"
        guard direction == "asc" || direction == "desc" else {
            throw ContainerAPIError(.unprocessable, "Invalid order direction '\(words[1])': use asc or desc")
        }
        return OrderTerm(column: attribute.column, descending: direction == "desc")
    }
}
