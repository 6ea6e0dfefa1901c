public import ArvadosAPI

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The API a runner's configuration points at, checked before anything depends on it.
extension RunnerConfiguration {
    /// How long the supervisor's requests may take: a request to an API that does not answer (an HTTPS address
    /// served by plain HTTP, a firewall dropping packets) fails within this, with its cause.
    public static let requestTimeout: Double = 20

    /// `ARVADOS_API_HOST`, checked; throws naming the variable when it or `ARVADOS_API_TOKEN` is missing or
    /// malformed.
    public func apiAddress() throws(RunnerError) -> APIAddress {
        guard let host = self.env[APIAddress.variable], !host.isEmpty,
            let token = self.env["ARVADOS_API_TOKEN"], !token.isEmpty
        else {
            throw RunnerError(.configuration, "ARVADOS_API_HOST and ARVADOS_API_TOKEN are required")
        }
        guard token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw RunnerError(.configuration, "ARVADOS_API_TOKEN holds spaces, control or non-ASCII characters")
        }
        switch self.apiScheme?.lowercased() {
        case nil, "https":
            return try APIAddress(parsing: host)
        case "http":
            // A scheme already in the variable (an older dispatcher's URL) wins.
            return try APIAddress(parsing: host.contains("://") ? host : "http://" + host)
        default:
            throw RunnerError(.configuration, "APIScheme is neither \"http\" nor \"https\"")
        }
    }

    /// A decoding error in a line: the key path and what was wrong, without the value.
    static func describe(_ error: any Error) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "the document" : keys.joined(separator: ".")
        }
        switch error as? DecodingError {
        case .typeMismatch(let type, let context):
            return "\(path(context)): expected \(type) (\(context.debugDescription))"
        case .valueNotFound(let type, let context):
            return "\(path(context)): expected \(type), found null"
        case .keyNotFound(let key, let context):
            return "\(path(context)): missing \(key.stringValue)"
        case .dataCorrupted(let context):
            let cause = context.underlyingError.map { " (\($0))" } ?? ""
            return "\(path(context)): \(context.debugDescription)\(cause)"
        default:
            return "\(error)"
        }
    }

    /// A client of the configured API (over a plain socket when it is `http://`).
    public func client() throws(RunnerError) -> ArvadosClient {
        let address = try self.apiAddress()
        if let ca = self.env[ArvadosClient.caVariable], !ca.isEmpty, address.scheme == "https" {
            // A private CA (the dispatcher sends its PEM): trusted instead of the system's roots, never skipped.
            guard let url = URL(string: address.description), let token = self.env["ARVADOS_API_TOKEN"] else {
                throw RunnerError(.configuration, "ARVADOS_API_HOST is not a usable URL")
            }
            do throws(ArvadosAPIError) {
                let pem = try ArvadosClient.caPEM(ca)
                return try ArvadosClient(
                    baseURL: url,
                    token: token,
                    timeout: Self.requestTimeout,
                    trustingCA: pem,
                    retryConnections: false
                )
            } catch {
                throw RunnerError(.configuration, error.message)
            }
        }
        var environment = self.env
        environment[APIAddress.variable] = address.description
        guard let client = ArvadosClient(environment: environment, timeout: Self.requestTimeout, lightweight: true)
        else {
            throw RunnerError(.configuration, "ARVADOS_API_HOST is not a usable URL")
        }
        return client
    }
}
