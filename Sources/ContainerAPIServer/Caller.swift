import Crypto
public import DispatchModel

/// Who is calling: the token's authorization record, the user it acts as, and whether it is the admin.
public struct Caller: Hashable, Sendable {
    /// The UUID of the token's authorization (`<cluster>-gj3su-…`); a lock holder is identified by it.
    public var tokenUUID: String
    /// The user the token acts as (`<cluster>-tpzed-…`); it owns the containers the token creates.
    public var userUUID: String
    /// Whether the token is the `SystemRootToken`, which may see and change everything.
    public var isAdmin: Bool

    public init(tokenUUID: String, userUUID: String, isAdmin: Bool) {
        self.tokenUUID = tokenUUID
        self.userUUID = userUUID
        self.isAdmin = isAdmin
    }

    /// The caller the `SystemRootToken` stands for, as Arvados names it: the system user and its root token.
    public static func systemRoot(cluster: ClusterID) -> Caller {
        Caller(
            tokenUUID: "\(cluster)-gj3su-000000000000000",
            userUUID: "\(cluster)-tpzed-000000000000000",
            isAdmin: true
        )
    }
}

/// The tokens the server accepts, indexed by a digest so that a lookup does not compare secrets byte by byte.
struct TokenDirectory: Sendable {
    private let callers: [SHA256Digest: Caller]

    init(clusterID: ClusterID, systemRootToken: String, submitterTokens: [String]) {
        var callers: [SHA256Digest: Caller] = [:]
        for token in submitterTokens where !token.isEmpty {
            callers[SHA256.hash(data: Array(token.utf8))] = Caller(
                tokenUUID: Self.derivedUUID(cluster: clusterID, infix: "gj3su", purpose: "token", token: token),
                userUUID: Self.derivedUUID(cluster: clusterID, infix: "tpzed", purpose: "user", token: token),
                isAdmin: false
            )
        }
        if !systemRootToken.isEmpty {
            callers[SHA256.hash(data: Array(systemRootToken.utf8))] = Caller.systemRoot(cluster: clusterID)
        }
        self.callers = callers
    }

    /// The caller a token belongs to, or `nil` for an unknown token.
    ///
    /// A v2 token (`v2/<uuid>/<secret>`) is also accepted by its secret.
    func caller(for token: String) -> Caller? {
        if let caller = self.callers[SHA256.hash(data: Array(token.utf8))] {
            return caller
        }
        let parts = token.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 3, parts[0] == "v2" {
            return self.callers[SHA256.hash(data: Array(parts[2].utf8))]
        }
        return nil
    }

    /// A stable UUID for a configured token that reveals nothing usable about the token.
    static func derivedUUID(cluster: ClusterID, infix: String, purpose: String, token: String) -> String {
        let digest = SHA256.hash(data: Array("dispatch-cloud \(purpose) \(token)".utf8))
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        let suffix = digest.prefix(15).map { alphabet[Int($0) % alphabet.count] }
        return "\(cluster)-\(infix)-\(String(suffix))"
    }
}
