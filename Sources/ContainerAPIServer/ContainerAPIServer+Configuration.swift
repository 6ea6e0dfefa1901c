public import DispatchModel
public import TLSSupport

extension ContainerAPIServer {
    /// Where the server listens, where it keeps its data, and whom it trusts.
    ///
    /// Defaults match Arvados's configuration defaults where Arvados has one.
    public struct Configuration: Sendable {
        /// The five-character cluster ID that prefixes every UUID the server makes.
        public var clusterID: ClusterID
        /// The address to listen on.
        public var host: String = "127.0.0.1"
        /// The port to listen on; 0 picks a free one (see ``ContainerAPIServer/listeningPort()``).
        public var port: Int = 0
        /// The directory that holds `containers.sqlite`; created with mode 0700 if missing.
        public var dataDirectory: String
        /// The admin token (`SystemRootToken`): sees and changes every container; the dispatcher and the runners use it.
        public var systemRootToken: String
        /// Tokens of submitters: each may create containers, and sees and changes only its own.
        public var submitterTokens: [String] = []
        /// `Containers.MaxDispatchAttempts`: an unlock that finds `lock_count` at this value cancels the container.
        public var maxDispatchAttempts: Int = 10
        /// `API.MaxRequestSize`: larger request bodies are refused with 413.
        public var maxRequestBodySize: Int = 128 << 20
        /// `API.MaxItemsPerResponse`: the largest `limit` a list call honours.
        public var maxItemsPerResponse: Int = 1000
        /// The URL clients reach the server at, such as `https://api.example:8000/`, for the discovery document;
        /// `nil` derives it from each request's `Host` header.
        public var externalURL: String?
        /// The instance types of the dispatcher behind this API: a container that none of them can run is
        /// refused at create with 422 and the reason. `nil` (the default) admits any container with sane sizes.
        public var admission: InstanceTypeChooser?
        /// The certificate and key to serve HTTPS with (`TLS.Certificate`, `TLS.Key`); `nil` serves plain HTTP.
        public var tls: ServerIdentity?

        public init(clusterID: ClusterID, dataDirectory: String, systemRootToken: String) {
            self.clusterID = clusterID
            self.dataDirectory = dataDirectory
            self.systemRootToken = systemRootToken
        }
    }
}
