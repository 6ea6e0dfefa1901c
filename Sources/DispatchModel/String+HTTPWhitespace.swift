extension StringProtocol {
    /// The text without leading and trailing spaces and tabs (HTTP's optional whitespace around header
    /// values and chunk sizes), for the two HTTP clients, which read headers without Foundation.
    public func trimmingHTTPWhitespace() -> String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = self.firstIndex(where: { !blank($0) }), let last = self.lastIndex(where: { !blank($0) })
        else { return "" }
        return String(self[first...last])
    }
}
