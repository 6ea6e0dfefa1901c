public import DispatchModel

extension JSONValue: ExpressibleByStringLiteral {
    /// Lets the tests write driver parameters as literals.
    public init(stringLiteral value: String) {
        self = .string(value)
    }
}
