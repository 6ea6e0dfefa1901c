import ArvadosAPI

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Watches EC2's instance metadata for a spot interruption notice, as `crunch-run` does with `EC2SpotCheck`
/// (`checkSpotInterruptionNotices`): every 5 s, an IMDSv2 token (`PUT /latest/api/token`, renewed a minute
/// before its 6 hours run out or after a 401), then `GET /latest/meta-data/spot/instance-action`: 404 means no
/// notice; a JSON `{"action","time"}` is one. After more than 5 inconclusive checks in a row it gives up.
public struct SpotInterruptionWatcher: Sendable {
    /// Where EC2's metadata service answers; tests point it at a fake on 127.0.0.1.
    public static let defaultMetadataURL = "http://169.254.169.254"
    /// The runner environment variable that overrides ``defaultMetadataURL``.
    public static let metadataURLVariable = "DISPATCH_RUNNER_EC2_METADATA_URL"
    static let tokenTTLSeconds = 21600

    public var metadataURL: URL
    public var interval: Duration

    public init(metadataURL: URL, interval: Duration = .seconds(5)) {
        self.metadataURL = metadataURL
        self.interval = interval
    }

    /// A notice: what the cloud will do to the instance, and when.
    public struct Notice: Equatable, Sendable, Decodable {
        public var action: String
        public var time: String

        /// `crunch-run`'s wording.
        public var text: String { "Cloud provider scheduled instance \(self.action) at \(self.time)" }
    }

    /// Checks until cancelled (or until it gives up), calling `notice` once per new notice and `log` for each
    /// inconclusive check.
    public func run(
        notice: @Sendable (Notice) async -> Void,
        log: @Sendable (String) async -> Void
    ) async {
        guard let transport = PlainHTTPTransport(url: self.metadataURL) else {
            await log("spot interruption checks disabled: \(self.metadataURL) is not an http:// URL")
            return
        }
        await log(
            "Checking for spot instance interruptions every \(self.interval) using instance metadata at \(self.metadataURL)"
        )
        var token: String?
        var tokenExpiry = ContinuousClock.now
        var failures = 0
        var last: Notice?
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: self.interval)
            } catch {
                return
            }
            do throws(RunnerError) {
                if token == nil || ContinuousClock.now.advanced(by: .seconds(60)) > tokenExpiry {
                    token = try await self.token(transport)
                    tokenExpiry = ContinuousClock.now.advanced(by: .seconds(Self.tokenTTLSeconds))
                }
                let current = try await self.check(transport, token: token ?? "", invalidate: { token = nil })
                failures = 0
                if let current, current != last {
                    last = current
                    await notice(current)
                }
            } catch {
                failures += 1
                let message = "Spot instance interruption check was inconclusive: \(error.message)"
                if failures > 5 {
                    await log("\(message) -- now giving up after too many consecutive errors")
                    return
                }
                await log("\(message) -- will retry in \(self.interval)")
            }
        }
    }

    private func token(_ transport: PlainHTTPTransport) async throws(RunnerError) -> String {
        let response = try await self.send(
            transport,
            "PUT",
            "/latest/api/token",
            [("X-aws-ec2-metadata-token-ttl-seconds", String(Self.tokenTTLSeconds))]
        )
        guard response.status == 200 else { throw RunnerError(.api, "token: HTTP \(response.status)") }
        return String(String(decoding: response.body.prefix(4096), as: UTF8.self).filter { !$0.isWhitespace })
    }

    private func check(
        _ transport: PlainHTTPTransport,
        token: String,
        invalidate: () -> Void
    ) async throws(RunnerError) -> Notice? {
        let response = try await self.send(
            transport,
            "GET",
            "/latest/meta-data/spot/instance-action",
            [("X-aws-ec2-metadata-token", token)]
        )
        switch response.status {
        case 200:
            do {
                return try JSONDecoder().decode(Notice.self, from: Data(response.body.prefix(65536)))
            } catch {
                throw RunnerError(.api, "instance-action is not a notice")
            }
        case 404:
            return nil
        case 401:
            invalidate()
            throw RunnerError(.api, "HTTP 401")
        default:
            throw RunnerError(.api, "HTTP \(response.status)")
        }
    }

    private func send(
        _ transport: PlainHTTPTransport,
        _ method: String,
        _ path: String,
        _ headers: [(name: String, value: String)]
    ) async throws(RunnerError) -> ArvadosHTTPResponse {
        guard let url = URL(string: self.metadataURL.absoluteString.trimmingSuffix("/") + path) else {
            throw RunnerError(.configuration, "bad metadata URL")
        }
        do {
            return try await transport.send(
                ArvadosHTTPRequest(method: method, url: url, headers: headers, body: nil, timeout: .seconds(60))
            )
        } catch {
            throw RunnerError(.api, error.message)
        }
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        self.hasSuffix(suffix) ? String(self.dropLast(suffix.count)) : self
    }
}
