import DispatchModel
import Foundation
import GRDB

/// A piece of SQL and the values bound to its `?` placeholders.
///
/// Values are never written into the SQL text; column names come only from ``ListSchema`` whitelists.
struct SQLFragment: Sendable {
    var sql: String
    var arguments: [DatabaseValue] = []

    static func and(_ parts: [SQLFragment]) -> SQLFragment {
        guard !parts.isEmpty else { return SQLFragment(sql: "1") }
        return SQLFragment(
            sql: parts.map { "(\($0.sql))" }.joined(separator: " AND "),
            arguments: parts.flatMap(\.arguments)
        )
    }
}

/// Object-type infixes of Arvados UUIDs, for `is_a` filters.
let arvadosUUIDInfixes: [String: String] = [
    "arvados#container": "dz642",
    "arvados#user": "tpzed",
    "arvados#group": "j7d0g",
    "arvados#log": "57u5n",
    "arvados#apiClientAuthorization": "gj3su",
    "arvados#containerRequest": "xvhdp",
    "arvados#collection": "4zz18",
]

extension ListQuery {
    /// The `WHERE` condition of the query: every filter, plus the caller's visibility condition.
    func condition(visibility: SQLFragment?) throws(ContainerAPIError) -> SQLFragment {
        var parts: [SQLFragment] = []
        if let visibility {
            parts.append(visibility)
        }
        var bound = 0
        for filter in self.filters {
            let part = try filter.sql()
            bound += part.arguments.count
            guard bound <= RequestLimits.maxBoundValues else {
                throw ContainerAPIError(
                    .unprocessable,
                    "Invalid filters: they compare against more than \(RequestLimits.maxBoundValues) values"
                )
            }
            parts.append(part)
        }
        return .and(parts)
    }

    /// The `ORDER BY` terms; columns come from the schema's whitelist.
    var orderSQL: String {
        self.order.map { "\($0.column) \($0.descending ? "DESC" : "ASC")" }.joined(separator: ", ")
    }
}

extension ListQuery.Filter {
    /// The filter as a parameterized SQL condition.
    func sql() throws(ContainerAPIError) -> SQLFragment {
        let column = self.attribute.column
        switch (self.op, self.attribute.kind) {
        case ("exists", .hash):
            return try self.existsSQL()
        case (_, .hash), ("exists", _):
            throw self.unsupported()
        case ("is_a", .uuid):
            let kinds = self.operand.arrayValue ?? [self.operand]
            try self.checkOperandCount(kinds.count)
            var infixes: [DatabaseValue] = []
            for kind in kinds {
                guard let name = kind.stringValue, let infix = arvadosUUIDInfixes[name] else {
                    throw ContainerAPIError(.unprocessable, "Invalid operand \(WireJSON.string(kind)) for is_a")
                }
                infixes.append(infix.databaseValue)
            }
            return Self.membership("substr(\(column), 7, 5)", infixes, negated: false)
        case ("is_a", _):
            throw self.unsupported()
        case ("like", .text), ("like", .uuid), ("ilike", .text), ("ilike", .uuid):
            guard let pattern = self.operand.stringValue else {
                throw ContainerAPIError(.unprocessable, "Invalid operand for \(self.op): expected a string pattern")
            }
            guard pattern.utf8.count <= RequestLimits.maxLikePatternBytes else {
                throw ContainerAPIError(
                    .unprocessable,
                    "Invalid operand for \(self.op) on '\(self.name)' in filter: the pattern has "
                        + "\(pattern.utf8.count) bytes, at most \(RequestLimits.maxLikePatternBytes) allowed"
                )
            }
            let glob = Self.glob(fromLikePattern: pattern)
            if self.op == "like" {
                return SQLFragment(sql: "\(column) GLOB ?", arguments: [glob.databaseValue])
            }
            return SQLFragment(sql: "lower(\(column)) GLOB lower(?)", arguments: [glob.databaseValue])
        case ("like", _), ("ilike", _):
            throw self.unsupported()
        case ("in", _), ("not in", _):
            guard let elements = self.operand.arrayValue else {
                throw ContainerAPIError(.unprocessable, "Invalid operand for \(self.op): expected an array")
            }
            try self.checkOperandCount(elements.count)
            var values: [DatabaseValue] = []
            for element in elements {
                values.append(try self.databaseValue(element))
            }
            let negated = self.op == "not in"
            let membership = Self.membership(column, values, negated: negated)
            return negated
                ? SQLFragment(sql: "\(membership.sql) OR \(column) IS NULL", arguments: membership.arguments)
                : membership
        case ("=", _):
            if self.operand.isNull {
                return SQLFragment(sql: "\(column) IS NULL")
            }
            return SQLFragment(sql: "\(column) = ?", arguments: [try self.databaseValue(self.operand)])
        case ("!=", _):
            if self.operand.isNull {
                return SQLFragment(sql: "\(column) IS NOT NULL")
            }
            return SQLFragment(
                sql: "\(column) != ? OR \(column) IS NULL",
                arguments: [try self.databaseValue(self.operand)]
            )
        case ("<", _), ("<=", _), (">", _), (">=", _):
            return SQLFragment(sql: "\(column) \(self.op) ?", arguments: [try self.databaseValue(self.operand)])
        default:
            throw self.unsupported()
        }
    }

    private func existsSQL() throws(ContainerAPIError) -> SQLFragment {
        let key: String
        var wanted = true
        if let named = self.key {
            guard case .bool(let flag) = self.operand else {
                throw ContainerAPIError(
                    .unprocessable,
                    "Invalid operand for exists on '\(self.name)': expected true or false"
                )
            }
            key = named
            wanted = flag
        } else {
            guard let named = self.operand.stringValue else {
                throw ContainerAPIError(.unprocessable, "Invalid operand for exists: expected a key")
            }
            key = named
        }
        guard !key.isEmpty, !key.contains("\""), !key.contains("\\") else {
            throw ContainerAPIError(.unprocessable, "Invalid key '\(key)' for exists")
        }
        let path = "$.\"\(self.attribute.column)\".\"\(key)\""
        return SQLFragment(
            sql: wanted ? "json_type(document, ?) IS NOT NULL" : "json_type(document, ?) IS NULL",
            arguments: [path.databaseValue]
        )
    }

    /// Converts an operand to the attribute's storage type.
    private func databaseValue(_ operand: JSONValue) throws(ContainerAPIError) -> DatabaseValue {
        switch self.attribute.kind {
        case .text, .uuid:
            if let text = operand.stringValue { return text.databaseValue }
        case .integer:
            if let value = operand.integerValue { return value.databaseValue }
        case .datetime:
            if let text = operand.stringValue, let timestamp = Timestamp(rfc3339: text) {
                return timestamp.microseconds.databaseValue
            }
        case .hash:
            break
        }
        throw ContainerAPIError(
            .unprocessable,
            "Invalid operand \(WireJSON.string(operand)) for attribute '\(self.name)' in filter"
        )
    }

    private func checkOperandCount(_ count: Int) throws(ContainerAPIError) {
        guard count <= RequestLimits.maxFilterOperands else {
            throw ContainerAPIError(
                .unprocessable,
                "Invalid operand for \(self.op) on '\(self.name)' in filter: \(count) values given, "
                    + "at most \(RequestLimits.maxFilterOperands) allowed"
            )
        }
    }

    private func unsupported() -> ContainerAPIError {
        ContainerAPIError(.unprocessable, "Operator '\(self.op)' is not supported for attribute '\(self.name)'")
    }

    private static func membership(_ expression: String, _ values: [DatabaseValue], negated: Bool) -> SQLFragment {
        guard !values.isEmpty else {
            return SQLFragment(sql: negated ? "1" : "0")
        }
        let placeholders = Array(repeating: "?", count: values.count).joined(separator: ", ")
        return SQLFragment(
            sql: "\(expression) \(negated ? "NOT IN" : "IN") (\(placeholders))",
            arguments: values
        )
    }

    /// Translates a SQL `LIKE` pattern (`%`, `_`, backslash escapes) into an equivalent, case-sensitive `GLOB`.
    static func glob(fromLikePattern pattern: String) -> String {
        var result = ""
        var escaped = false
        for character in pattern {
            if escaped {
                result += Self.globLiteral(character)
                escaped = false
                continue
            }
            switch character {
            case "\\": escaped = true
            case "%": result += "*"
            case "_": result += "?"
            default: result += Self.globLiteral(character)
            }
        }
        if escaped {
            result += Self.globLiteral("\\")
        }
        return result
    }

    private static func globLiteral(_ character: Character) -> String {
        switch character {
        case "*", "?", "[": "[\(character)]"
        default: String(character)
        }
    }
}

extension Timestamp {
    /// Microseconds since 1970, as the storage columns hold timestamps.
    ///
    /// Saturates at `Int64`'s bounds rather than trapping (RFC 3339 parsing only yields years 0–9999, far inside).
    var microseconds: Int64 {
        let value = (self.date.timeIntervalSince1970 * 1_000_000).rounded()
        guard value >= -0x1p63, value < 0x1p63 else { return value < 0 ? .min : .max }
        return Int64(value)
    }
}
