public import ArvadosAPI

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
        return try APIAddress(parsing: host)
    }

    /// A client of the configured API (over a plain socket when it is `http://`).
    public func client() throws(RunnerError) -> ArvadosClient {
        let address = try self.apiAddress()
        var environment = self.env
        environment[APIAddress.variable] = address.description
        guard let client = ArvadosClient(environment: environment, timeout: Self.requestTimeout, lightweight: true)
        else {
            throw RunnerError(.configuration, "ARVADOS_API_HOST is not a usable URL")
        }
        return client
    }
}
