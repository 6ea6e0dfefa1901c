import DispatchModel
import Foundation

/// The parameters of an Arvados API request, gathered from the query string and the body.
///
/// As in Arvados, a query or form value is JSON when it parses as JSON (`filters=[["state","=","Queued"]]`,
/// `limit=10`) and a plain string otherwise (`count=none`); a JSON body is an object whose members are
/// parameters (`{"container": {...}}`). Body parameters override query parameters of the same name.
enum RequestParameters {
    static func parse(
        query: String?,
        body: [UInt8],
        contentType: String?
    ) throws(ContainerAPIError) -> [String: JSONValue] {
        var parameters: [String: JSONValue] = [:]
        if let query, !query.isEmpty {
            for (name, value) in try Self.formPairs(query) {
                parameters[name] = Self.value(fromText: value)
            }
        }
        guard !body.isEmpty else { return parameters }
        let type = contentType?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        if type == "application/x-www-form-urlencoded" {
            for (name, value) in try Self.formPairs(String(decoding: body, as: UTF8.self)) {
                parameters[name] = Self.value(fromText: value)
            }
            return parameters
        }
        let document: JSONValue
        do {
            document = try WireJSON.parse(body, maximumDepth: RequestLimits.maxJSONDepth)
        } catch {
            throw ContainerAPIError(
                .badRequest,
                "The request body is not valid JSON (or nests arrays and objects deeper than "
                    + "\(RequestLimits.maxJSONDepth) levels)",
                cause: error
            )
        }
        guard let members = document.objectValue else {
            throw ContainerAPIError(.badRequest, "The request body must be a JSON object")
        }
        for (name, value) in members {
            // A JSON-encoded string inside a JSON body (`{"filters": "[[...]]"}`) is accepted, as Arvados does.
            if case .string(let text) = value, let first = text.first, first == "[" || first == "{" {
                parameters[name] = Self.value(fromText: text)
            } else {
                parameters[name] = value
            }
        }
        return parameters
    }

    /// The value a query or form string stands for: its JSON value if it is JSON, else the string itself.
    static func value(fromText text: String) -> JSONValue {
        guard let first = text.utf8.first else { return .string(text) }
        // Only JSON documents and numbers, not bare words like `none` or `true` as strings of a `count`.
        let looksLikeJSON =
            first == UInt8(ascii: "[") || first == UInt8(ascii: "{") || first == UInt8(ascii: "\"")
            || first == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first)
            || text == "true" || text == "false" || text == "null"
        if looksLikeJSON, let value = try? WireJSON.parse(Array(text.utf8), maximumDepth: RequestLimits.maxJSONDepth) {
            return value
        }
        return .string(text)
    }

    /// Splits `application/x-www-form-urlencoded` text into decoded name–value pairs.
    static func formPairs(_ text: String) throws(ContainerAPIError) -> [(String, String)] {
        var pairs: [(String, String)] = []
        for item in text.split(separator: "&") where !item.isEmpty {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = try Self.decodeComponent(parts[0])
            let value = parts.count > 1 ? try Self.decodeComponent(parts[1]) : ""
            pairs.append((name, value))
        }
        return pairs
    }

    private static func decodeComponent(_ text: Substring) throws(ContainerAPIError) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        guard let decoded = spaced.removingPercentEncoding else {
            throw ContainerAPIError(.badRequest, "Malformed percent-encoding in the request parameters")
        }
        return decoded
    }
}
