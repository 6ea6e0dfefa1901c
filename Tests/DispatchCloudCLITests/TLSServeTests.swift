import ArvadosAPI
import DispatchConfig
import DispatchModel
import DispatchTestSupport
import Foundation
import TLSSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Both APIs over TLS through `dispatch-cloud serve`: `tls init`'s private CA, runners reaching the API over
/// https with it, the CLI trusting it, a wrong or expired certificate refused, and plain HTTP refused where a
/// token would cross a network.
@Suite("TLS through serve", .serialized)
struct TLSServeTests {
    static let dispatchCloud = URL(fileURLWithPath: ProcessRunner.product("dispatch-cloud").path)

    static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> ProcessOutput {
        try await ProcessRunner.run(Self.dispatchCloud, arguments, environment: environment)
    }

    /// A standalone cluster whose two APIs serve https with the CA and certificate `tls init` wrote.
    /// Starts `dispatch-cloud serve --config config` with its stderr in `serve.log` of `directory`; the caller
    /// stops it. `log` reads what it has written so far.
    static func serve(
        _ config: String,
        in directory: TemporaryDirectory
    ) throws -> (SpawnedProcess, log: @Sendable () -> String) {
        let logPath = directory.file("serve.log")
        let daemon = try SpawnedProcess.spawn(
            Self.dispatchCloud.path,
            ["serve", "--config", config],
            stderr: .file(logPath)
        )
        return (daemon, { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" })
    }

    static func httpsCluster(_ directory: TemporaryDirectory) async throws -> (StandaloneCluster, config: String) {
        var cluster = StandaloneCluster(dataDirectory: directory.file("data"), apiPort: try LoopbackPort.free())
        cluster.managementPort = try LoopbackPort.free()
        // As an operator does it: the URLs already say https://, and tls init makes what they need.
        cluster.scheme = "https"
        let plainConfig = try directory.write(cluster.yaml, to: "config.yml")
        let refused = try await Self.run(["check-config", "--config", plainConfig])
        #expect(refused.status == 2 && refused.stderr.contains("tls init"), "\(refused.stderr)")
        let initialized = try await Self.run(["tls", "init", "--config", plainConfig])
        try #require(initialized.status == 0, "\(initialized.stderr)")
        let tlsDirectory = cluster.dataDirectory + "/tls"
        #expect(
            initialized.stdout
                == "    TLS: {Certificate: \"file://\(tlsDirectory)/server.pem\", Key: \"file://\(tlsDirectory)/server-key.pem\"}\n"
        )
        for name in ["ca.pem", "ca-key.pem", "server.pem", "server-key.pem"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: tlsDirectory + "/" + name)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(name)")
        }
        let again = try await Self.run(["tls", "init", "--config", plainConfig])
        #expect(again.status == 1 && again.stderr.contains("--force"), "\(again.stderr)")
        cluster.tlsCertificate = "file://\(tlsDirectory)/server.pem"
        cluster.tlsKey = "file://\(tlsDirectory)/server-key.pem"
        return (cluster, try directory.write(cluster.yaml, to: "config.yml"))
    }

    @Test("serve on https: runners, the CLI and the management API over TLS with tls init's CA")
    func endToEnd() async throws {
        let directory = try TemporaryDirectory(prefix: "tls-serve")
        defer { directory.remove() }
        let (cluster, configPath) = try await Self.httpsCluster(directory)
        let checked = try await Self.run(["check-config", "--config", configPath])
        #expect(checked.status == 0 && !checked.stderr.contains("warning"), "\(checked.stderr)")
        let (daemon, log) = try Self.serve(configPath, in: directory)
        defer { daemon.signal(SIGKILL) }
        let caPath = cluster.dataDirectory + "/tls/ca.pem"
        let caPEM = try String(contentsOfFile: caPath, encoding: .utf8)
        let client = try ArvadosClient(
            baseURL: URL(string: cluster.apiURL)!,
            token: cluster.submitterToken,
            trustingCA: caPEM
        )
        try #require(await eventually { try? await client.currentAuthorization() } != nil, "\(log())")

        // crunch-run's form of the address (host:port means https) and the CA, as a submitter has them.
        let submitted = try await Self.run(
            ["submit", "--vcpus", "1", "--ram", "256MiB", "--", "sh", "-c", "echo hello over tls"],
            environment: [
                "ARVADOS_API_HOST": "127.0.0.1:\(cluster.apiPort)",
                "ARVADOS_API_TOKEN": cluster.submitterToken,
                "ARVADOS_API_CA": caPath,
            ]
        )
        try #require(submitted.status == 0, "stderr: \(submitted.stderr)")
        let uuid = ContainerUUID(rawValue: submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        // The runner moves the container to Running and Complete and sends its logs: all over https.
        let done = await eventually(timeout: .seconds(60), interval: .milliseconds(200)) {
            () async -> Container? in
            guard let container = try? await client.container(uuid), container.state.isFinal else { return nil }
            return container
        }
        #expect(done?.state == .complete && done?.exitCode == 0, "\(log())")
        let output = await eventually { () async -> String? in
            let page = try? await client.logs(
                filters: [
                    ArvadosFilter("object_uuid", "=", .string(uuid.rawValue)),
                    ArvadosFilter("event_type", "=", .string("stdout")),
                ],
                limit: 100
            )
            let text = page?.items.compactMap(\.text).joined() ?? ""
            return text.isEmpty ? nil : text
        }
        #expect(output == "hello over tls\n")

        // The admin CLI with the address from the configuration trusts the CA at the end of its chain.
        let listed = try await Self.run(["containers", "--config", configPath])
        #expect(listed.status == 0 && listed.stdout.contains(uuid.rawValue), "\(listed.stderr)")

        // The management API and its metrics over https, with the CA; plain HTTP to it gets no answer.
        let port = try #require(cluster.managementPort)
        let metrics = try await ProcessRunner.run(
            URL(fileURLWithPath: "/usr/bin/curl"),
            [
                "-sS", "--cacert", caPath, "-H", "Authorization: Bearer \(cluster.managementToken)",
                "https://127.0.0.1:\(port)/metrics",
            ]
        )
        #expect(metrics.status == 0, "\(metrics.stderr)")
        #expect(metrics.stdout.contains("arvados_tls_certificate_expiry_seconds"), "\(metrics.stdout.prefix(500))")
        let dashboard = try await ProcessRunner.run(
            URL(fileURLWithPath: "/usr/bin/curl"),
            ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", caPath, "https://127.0.0.1:\(port)/"]
        )
        #expect(dashboard.stdout == "200", "\(dashboard.stderr)")
        // The admin commands over https: the CA from the configuration, or given with --ca-file.
        let instances = try await Self.run(["instances", "--json", "--config", configPath])
        #expect(instances.status == 0 && instances.stdout.hasPrefix("["), "\(instances.stderr)")
        let managementURL = "https://127.0.0.1:\(port)/"
        let environment = ["DISPATCH_CLOUD_MANAGEMENT_TOKEN": cluster.managementToken]
        let withCA = try await Self.run(
            ["instances", "--url", managementURL, "--ca-file", caPath],
            environment: environment
        )
        #expect(withCA.status == 0, "\(withCA.stderr)")
        let untrusted = try await Self.run(["instances", "--url", managementURL], environment: environment)
        #expect(untrusted.status == 1, "\(untrusted.stdout)")
        #expect(
            untrusted.stderr.hasPrefix("error: cannot connect to the dispatcher at \(managementURL)")
                && untrusted.stderr.contains("not trusted") && untrusted.stderr.split(separator: "\n").count == 1,
            "\(untrusted.stderr)"
        )
        let plain = try await ProcessRunner.run(
            URL(fileURLWithPath: "/usr/bin/curl"),
            ["-sS", "-m", "5", "http://127.0.0.1:\(cluster.apiPort)/arvados/v1/containers"]
        )
        #expect(plain.status != 0)

        daemon.signal(SIGTERM)
        #expect(await daemon.wait() == .exited(0), "\(log())")
    }

    @Test("a certificate from another CA or an expired one is refused by the CLI and the runner in one line")
    func wrongAndExpiredCertificates() async throws {
        let directory = try TemporaryDirectory(prefix: "tls-refused")
        defer { directory.remove() }
        var (cluster, _) = try await Self.httpsCluster(directory)
        // An expired server certificate from a CA of its own, served by the daemon.
        let expired = try PrivateCA.generate(
            hosts: ["127.0.0.1", "localhost"],
            now: Date().addingTimeInterval(-30 * 86400),
            serverValidity: 86400
        )
        let expiredCertificate = try directory.write(
            expired.serverCertificatePEM + expired.caCertificatePEM,
            to: "expired.pem"
        )
        let expiredKey = try directory.write(expired.serverKeyPEM, to: "expired-key.pem")
        let expiredCA = try directory.write(expired.caCertificatePEM, to: "expired-ca.pem")
        cluster.tlsCertificate = "file://" + expiredCertificate
        cluster.tlsKey = "file://" + expiredKey
        let configPath = try directory.write(cluster.yaml, to: "config.yml")
        let (daemon, log) = try Self.serve(configPath, in: directory)
        defer { daemon.signal(SIGKILL) }
        try #require(await eventually { log().contains("Container API listening") ? true : nil } == true, "\(log())")
        // The certificate's service logs the warning as it starts, beside the API's own start: not ordered with it.
        let warned = await eventually { log().contains("The TLS certificate has expired") ? true : nil }
        #expect(warned == true, "\(log())")

        let environment = ["ARVADOS_API_HOST": "127.0.0.1:\(cluster.apiPort)", "ARVADOS_API_TOKEN": cluster.rootToken]
        let otherCA = cluster.dataDirectory + "/tls/ca.pem"  // tls init's CA, which did not sign what is served
        for (index, (ca, what)) in [(otherCA, "another CA"), (expiredCA, "expired")].enumerated() {
            let listed = try await Self.run(["containers", "--ca-file", ca], environment: environment)
            #expect(listed.status == 1, "\(what): \(listed.stdout)")
            let lines = listed.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(what): \(listed.stderr)")
            #expect(
                listed.stderr.hasPrefix("error: ") && listed.stderr.contains("certificate is not trusted"),
                "\(listed.stderr)"
            )

            // The runner, configured as the dispatcher configures it (crunch-run's host:port, the CA's PEM): its
            // first request fails, and it says why in one line.
            let runnerEnvironment = environment.merging([
                "ARVADOS_API_CA": try String(contentsOfFile: ca, encoding: .utf8)
            ]) { $1 }
            let stdinConfig = String(
                decoding: try JSONSerialization.data(withJSONObject: ["Env": runnerEnvironment, "KeepBuffers": 0]),
                as: UTF8.self
            )
            let runner = try await ProcessRunner.run(
                ProcessRunner.product("dispatch-runner"),
                ["--detach", "--stdin-config", "--runtime-engine=process", "zzzzz-dz642-000000000000000"],
                environment: [
                    // A directory per case: the first case's detached runner may still hold its lock as the second
                    // starts ("already running" instead of the certificate error).
                    "DISPATCH_RUNNER_LOCK_DIR": directory.file("lock-\(index)"),
                    "DISPATCH_RUNNER_WORK_DIR": directory.file("work-\(index)"),
                ],
                stdin: stdinConfig
            )
            #expect(runner.status != 0, "\(what): \(runner.stderr)")
            let runnerLines = runner.stderr.split(separator: "\n").filter { $0.hasPrefix("dispatch-runner: ") }
            #expect(runnerLines.count == 1, "\(what): \(runner.stderr)")
            #expect(runner.stderr.contains("certificate is not trusted"), "\(what): \(runner.stderr)")
        }
        // The dispatcher's own polls fail on the expired certificate at once, so it stops promptly.
        let stopping = ContinuousClock.now
        daemon.signal(SIGTERM)
        #expect(await daemon.wait() == .exited(0), "\(log())")
        // The old client retried for 60 s; the bound leaves room for a loaded machine.
        #expect(ContinuousClock.now - stopping < .seconds(45))
    }

    /// What the Python SDK does in ``pythonSDK()``: discovery, the current token, create, poll to the end, get
    /// and list, printing one line per step.
    static let pythonSDKScript = """
        import arvados, time
        api = arvados.api("v1", num_retries=2)
        print("current", api.api_client_authorizations().current().execute()["kind"], flush=True)
        body = {"container": {"command": ["sh", "-c", "echo python over tls"], "container_image": "process",
                "output_path": "/tmp", "priority": 1, "runtime_constraints": {"vcpus": 1, "ram": 268435456}}}
        created = api.containers().create(body=body).execute()
        print("created", created["state"], flush=True)
        for _ in range(240):
            got = api.containers().get(uuid=created["uuid"]).execute()
            if got["state"] in ("Complete", "Cancelled"):
                break
            time.sleep(0.25)
        print("final", got["state"], got["exit_code"], flush=True)
        listed = api.containers().list(filters=[["uuid", "=", created["uuid"]]]).execute()
        print("listed", len(listed["items"]), listed["items"][0]["state"], flush=True)
        """

    /// Whether `python3` can import the Arvados SDK (the bootstrap installs it in CI, where the test must run).
    static let pythonSDKAvailable: Bool = {
        if ProcessInfo.processInfo.environment["CI"] == "true" { return true }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import arvados"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }()

    @Test(
        "the Arvados Python SDK creates, follows and lists a container over https, trusting tls init's CA",
        .enabled(if: Self.pythonSDKAvailable, "python3 cannot import arvados (scripts/bootstrap.sh installs it in CI)")
    )
    func pythonSDK() async throws {
        let directory = try TemporaryDirectory(prefix: "tls-python")
        defer { directory.remove() }
        let (cluster, configPath) = try await Self.httpsCluster(directory)
        let (daemon, log) = try Self.serve(configPath, in: directory)
        defer { daemon.signal(SIGKILL) }
        let caPath = cluster.dataDirectory + "/tls/ca.pem"
        let client = try ArvadosClient(
            baseURL: URL(string: cluster.apiURL)!,
            token: cluster.rootToken,
            trustingCA: try String(contentsOfFile: caPath, encoding: .utf8)
        )
        try #require(await eventually { try? await client.currentAuthorization() } != nil, "\(log())")
        let script = try directory.write(Self.pythonSDKScript, to: "sdk.py")
        // As a Python user writes it: host:port (https), the token, and the CA in SSL_CERT_FILE; no Insecure.
        let ran = try await ProcessRunner.run(
            URL(fileURLWithPath: "/usr/bin/env"),
            ["timeout", "150", "python3", script],
            environment: [
                "ARVADOS_API_HOST": "127.0.0.1:\(cluster.apiPort)",
                "ARVADOS_API_TOKEN": cluster.submitterToken,
                "ARVADOS_API_HOST_INSECURE": "",
                "SSL_CERT_FILE": caPath,
                "XDG_CACHE_HOME": directory.file("cache"),
            ]
        )
        #expect(ran.status == 0, "stdout: \(ran.stdout)\nstderr: \(ran.stderr)\n\(log())")
        #expect(
            ran.stdout
                == "current arvados#apiClientAuthorization\ncreated Queued\nfinal Complete 0\nlisted 1 Complete\n",
            "stderr: \(ran.stderr)"
        )
        daemon.signal(SIGTERM)
        #expect(await daemon.wait() == .exited(0), "\(log())")
    }

    @Test("SIGHUP re-reads the certificate: new connections get the new one, a kept-alive one is not dropped")
    func reloadOnSIGHUP() async throws {
        let directory = try TemporaryDirectory(prefix: "tls-reload")
        defer { directory.remove() }
        let (cluster, configPath) = try await Self.httpsCluster(directory)
        let (daemon, log) = try Self.serve(configPath, in: directory)
        defer { daemon.signal(SIGKILL) }
        let caPath = cluster.dataDirectory + "/tls/ca.pem"
        let firstCA = try String(contentsOfFile: caPath, encoding: .utf8)
        let kept = try ArvadosClient(
            baseURL: URL(string: cluster.apiURL)!,
            token: cluster.rootToken,
            trustingCA: firstCA
        )
        try #require(await eventually { try? await kept.currentAuthorization() } != nil, "\(log())")

        // A new CA and certificate in the same files, then SIGHUP.
        let replaced = try await Self.run(["tls", "init", "--force", "--config", configPath])
        try #require(replaced.status == 0, "\(replaced.stderr)")
        let secondCA = try String(contentsOfFile: caPath, encoding: .utf8)
        #expect(secondCA != firstCA)
        daemon.signal(SIGHUP)
        try #require(await eventually { log().contains("TLS certificate re-read") ? true : nil } == true, "\(log())")

        // The connection made before the reload still answers.
        _ = try await kept.currentAuthorization()
        // New connections are served the new certificate: trusted with the new CA, refused with the old one.
        let fresh = try ArvadosClient(
            baseURL: URL(string: cluster.apiURL)!,
            token: cluster.rootToken,
            trustingCA: secondCA,
            retryConnections: false
        )
        _ = try await fresh.currentAuthorization()
        let stale = try ArvadosClient(
            baseURL: URL(string: cluster.apiURL)!,
            token: cluster.rootToken,
            trustingCA: firstCA,
            retryConnections: false
        )
        await #expect(throws: ArvadosAPIError.self) { try await stale.currentAuthorization() }

        // A broken replacement is refused and the current certificate stays.
        try directory.write("-----BEGIN CERTIFICATE-----\nbroken\n", to: "data/tls/server.pem")
        daemon.signal(SIGHUP)
        try #require(await eventually { log().contains("TLS certificate not re-read") ? true : nil } == true)
        _ = try await fresh.currentAuthorization()
        daemon.signal(SIGTERM)
        #expect(await daemon.wait() == .exited(0), "\(log())")
    }

    @Test("serve refuses plain HTTP that would carry tokens across a network; check-config warns")
    func plainHTTPRefused() async throws {
        let directory = try TemporaryDirectory(prefix: "tls-plain")
        defer { directory.remove() }
        // Runners on EC2 instances would get an http:// API address.
        var cluster = StandaloneCluster(dataDirectory: directory.file("data"), apiPort: try LoopbackPort.free())
        cluster.driver = "ec2"
        cluster.driverParameters = "{Region: us-east-1}"
        let ec2Config = try directory.write(cluster.yaml, to: "ec2.yml")
        let refused = try await Self.run(["serve", "--config", ec2Config])
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(
            refused.stderr.contains("error: Services.Controller.ExternalURL: runners on ec2 instances would send")
                && refused.stderr.contains("InsecurePlainHTTPOnPrivateNetwork"),
            "\(refused.stderr)"
        )
        let warned = try await Self.run(["check-config", "--config", ec2Config])
        #expect(warned.status == 0, "\(warned.stderr)")
        #expect(warned.stderr.contains("warning: Clusters.zzzzz.Services.Controller.ExternalURL"), "\(warned.stderr)")

        // The management API on every interface over plain HTTP.
        var local = StandaloneCluster(dataDirectory: directory.file("data2"), apiPort: try LoopbackPort.free())
        let managementPort = try LoopbackPort.free()
        local.managementPort = managementPort
        let wide = local.yaml.replacingOccurrences(
            of: "http://127.0.0.1:\(managementPort)",
            with: "http://0.0.0.0:\(managementPort)"
        )
        let wideConfig = try directory.write(wide, to: "wide.yml")
        let wideRefused = try await Self.run(["serve", "--config", wideConfig])
        #expect(wideRefused.status == 2, "\(wideRefused.stderr)")
        #expect(
            wideRefused.stderr.contains("Services.DispatchCloud.InternalURLs: plain HTTP on the non-loopback address"),
            "\(wideRefused.stderr)"
        )

        // The explicit opt-in lets the same configuration start.
        let optedIn = try directory.write(
            wide.replacingOccurrences(
                of: "      EmbeddedContainerAPI: true\n",
                with: "      EmbeddedContainerAPI: true\n      InsecurePlainHTTPOnPrivateNetwork: true\n"
            ),
            to: "opted-in.yml"
        )
        let (daemon, log) = try Self.serve(optedIn, in: directory)
        defer { daemon.signal(SIGKILL) }
        #expect(await eventually { log().contains("Management API listening") ? true : nil } == true, "\(log())")
        daemon.signal(SIGTERM)
        #expect(await daemon.wait() == .exited(0), "\(log())")
    }

    @Test("check-config: an https URL without a certificate, or a certificate with only http URLs, is an error")
    func schemeMismatch() async throws {
        let directory = try TemporaryDirectory(prefix: "tls-mismatch")
        defer { directory.remove() }
        var cluster = StandaloneCluster(dataDirectory: directory.file("data"), apiPort: try LoopbackPort.free())
        cluster.scheme = "https"
        let noCertificate = try directory.write(cluster.yaml, to: "no-cert.yml")
        let first = try await Self.run(["check-config", "--config", noCertificate])
        #expect(first.status == 2)
        #expect(
            first.stderr.contains("error: Clusters.zzzzz.Services.Controller.InternalURLs: https://127.0.0.1:")
                && first.stderr.contains("TLS.Certificate and TLS.Key are not set"),
            "\(first.stderr)"
        )
        let generated = try PrivateCA.generate(hosts: ["127.0.0.1"])
        cluster.scheme = "http"
        cluster.tlsCertificate = "file://" + (try directory.write(generated.serverCertificatePEM, to: "c.pem"))
        cluster.tlsKey = "file://" + (try directory.write(generated.serverKeyPEM, to: "k.pem"))
        let onlyHTTP = try directory.write(cluster.yaml, to: "only-http.yml")
        let second = try await Self.run(["check-config", "--config", onlyHTTP])
        #expect(second.status == 2)
        #expect(
            second.stderr.contains("error: Clusters.zzzzz.TLS.Certificate: is set but no served"),
            "\(second.stderr)"
        )
        #expect(!second.stderr.contains("BEGIN"))
    }
}
