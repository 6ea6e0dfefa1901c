/// The bounds the server puts on what one request may ask of it, so that no request costs unbounded memory,
/// CPU, SQL or log space. Requests past a bound are refused with a 4xx and an Arvados error body naming the
/// parameter; `docs/container-api.md` lists them.
enum RequestLimits {
    /// The longest query string (the part of the URL after `?`), in bytes: 256 KiB. Longer queries go in a
    /// `POST` body with `_method=GET`.
    static let maxQueryBytes = 256 << 10

    /// The longest request line plus headers the HTTP decoder accepts, in bytes: 1 MiB, as Go's `net/http`
    /// (Arvados's controller) allows. A longer head is refused with an empty 400 before any handler runs.
    static let maxHeadBytes = 1 << 20

    /// The body an unauthenticated request may carry (one without an `Authorization` header or an
    /// `api_token` query parameter, which may still hold `api_token` in its body): 64 KiB.
    static let unauthenticatedBodyBytes = 64 << 10

    /// The deepest nesting of JSON arrays and objects in a request's parameters: 64 levels.
    static let maxJSONDepth = 64

    /// The most filters (`filters` entries plus `where` members) one list call may have: 100.
    static let maxFilters = 100

    /// The most operands of one `in`, `not in` or `is_a` filter: 10,000.
    static let maxFilterOperands = 10_000

    /// The most values one list call may compare against, over all its filters: 20,000 (SQLite binds at most
    /// 32,766 per statement).
    static let maxBoundValues = 20_000

    /// The longest `like` or `ilike` pattern, in bytes: 1,000 (SQLite refuses patterns past 50,000 bytes).
    static let maxLikePatternBytes = 1000

    /// The most `order` terms one list call may have: 20.
    static let maxOrderTerms = 20

    /// The most names in one `select`: 100.
    static let maxSelectNames = 100

    /// The most characters of any request-derived text (paths, error descriptions) written to the log: 1,000.
    static let maxLoggedCharacters = 1000

    /// `text` cut to ``maxLoggedCharacters``, saying how much was left out.
    static func loggable(_ text: String) -> String {
        guard text.count > Self.maxLoggedCharacters else { return text }
        return "\(text.prefix(Self.maxLoggedCharacters))… (\(text.utf8.count) bytes in all)"
    }
}
