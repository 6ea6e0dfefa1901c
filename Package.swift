// swift-tools-version:6.2
import PackageDescription

/// Links the Swift runtime and Foundation into a release executable (as `--static-swift-stdlib` does): the
/// runtime's calls (retain, release, task switches) are then direct rather than through the dynamic linker's
/// tables, and its thread-local reads (the current task, exclusivity checks) one instruction instead of a
/// `__tls_get_addr` call each: the simulated day ran 10% faster (40.1 s → 35.9 s). The program then needs no Swift
/// toolchain where it is installed. Debug builds, which the tests run, link dynamically (faster to link).
/// `xml`: the executable parses XML (the EC2 driver does, through FoundationXML and the system's libxml2).
func staticSwiftRuntime(xml: Bool = false) -> [LinkerSetting] {
    let foundation = ["-lCoreFoundation", "-l_FoundationICU", "-l_FoundationCShims", "-l_FoundationCollections"]
    return [
        .unsafeFlags(
            ["-static-stdlib"] + foundation + (xml ? ["-l_CFXMLInterface", "-lxml2"] : []),
            .when(platforms: [.linux], configuration: .release)
        )
    ]
}

let package = Package(
    name: "dispatch-cloud",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "dispatch-cloud", targets: ["dispatch-cloud"]),
        .executable(name: "dispatch-runner", targets: ["dispatch-runner"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssh.git", .upToNextMinor(from: "0.15.1")),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
    ],
    targets: [
        // Identifiers, instance types, containers, resources, the runner wire format, instance-type choice.
        .target(name: "DispatchModel"),
        // TLS material: Arvados's certificate and key values, a server identity re-read on SIGHUP, a private CA.
        .target(
            name: "TLSSupport",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "TLSSupportTests",
            dependencies: [
                "TLSSupport",
                "DispatchTestSupport",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The Arvados-style YAML configuration: load, validate, defaults, clear errors.
        .target(
            name: "DispatchConfig",
            dependencies: [
                "DispatchModel",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // Assembly: configuration → concrete pieces → one service group; shared CLI plumbing.
        .target(
            name: "DispatchCloud",
            dependencies: [
                "TLSSupport",
                "ArvadosAPI",
                "CloudDriver",
                "ContainerAPIServer",
                "ContainerQueue",
                "DecisionJournal",
                "DispatchConfig",
                "DispatchModel",
                "ManagementAPI",
                "RemoteExecution",
                "Scheduler",
                "SSHExecutor",
                "WorkerPool",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOSSH", package: "swift-nio-ssh"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "dispatch-cloud",
            dependencies: [
                "TLSSupport",
                "ArvadosAPI",
                "DispatchCloud",
                "DispatchConfig",
                "DispatchModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                "CloudDriver",
                "CloudDriverLoopback",
                "CloudDriverSimulated",
                "SimulatedRunner",
                "DispatchSimulation",
                "RemoteExecution",
                "SSHExecutor",
                "WorkerPool",
                "CloudTesting",
                .product(name: "Logging", package: "swift-log"),
                "ManagementAPI",
                "CloudDriverEC2",
            ],
            linkerSettings: staticSwiftRuntime(xml: true)
        ),
        // `dispatch-cloud cloudtest`'s steps: one instance created, listed, reached, probed, tagged, destroyed.
        .target(
            name: "CloudTesting",
            dependencies: [
                "CloudDriver",
                "DispatchConfig",
                "DispatchModel",
                "RemoteExecution",
                "SSHExecutor",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSH", package: "swift-nio-ssh"),
            ]
        ),
        .executableTarget(
            name: "dispatch-runner",
            dependencies: ["ContainerRunner", "ArvadosAPI", "DispatchModel"],
            // Self-contained: the Swift runtime and Foundation linked in, so the runner deploys to a VM without
            // a Swift toolchain and starts in a few milliseconds instead of loading a dozen shared libraries
            // for every container. SwiftPM's autolink entries name Foundation's dynamic form, which pulls in
            // CoreFoundation and ICU itself, so their static archives are named here. SwiftPM exports every
            // symbol of an executable (25,000 here) for backtraces; the loader then spent half of each runner
            // start (2.3 of 4.5 ms) looking through them, so the runner exports none. Linked position-dependent
            // (as Go links crunch-run): relocating 71,000 pointers cost 0.7 ms of every start (docs/security.md).
            linkerSettings: [
                .unsafeFlags([
                    "-static-stdlib", "-l_FoundationCShims", "-l_FoundationCollections", "-Xlinker",
                    "--no-export-dynamic", "-Xclang-linker", "-no-pie",
                ])
            ]
        ),
        // Typed client of the Arvados API endpoints the dispatcher and its runners use.
        .target(
            name: "ArvadosAPI",
            dependencies: [
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                "DispatchModel",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The runner's work on a worker VM: lock files, detaching, running and finalizing a container.
        .target(
            name: "ContainerRunner",
            dependencies: ["DispatchModel", "ArvadosAPI", "CRunnerSupport", "ProcessSpawning"]
        ),
        // Two glibc process-spawning symbols that Swift cannot see without _GNU_SOURCE.
        .target(name: "CRunnerSupport"),
        // What both HTTP servers share: Arvados's token rule, form parameters, the "listening" event.
        .target(name: "HTTPServing", dependencies: [.product(name: "Hummingbird", package: "hummingbird")]),
        // posix_spawn with nothing inherited but what is asked for, and children reaped on threads of their own.
        .target(name: "ProcessSpawning", dependencies: ["CRunnerSupport"]),
        // The cached view of the containers this dispatcher cares about; lock, unlock, cancel.
        .target(
            name: "ContainerQueue",
            dependencies: [
                "ArvadosAPI",
                "DispatchModel",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The decision journal: typed events in a bounded ring and in their own SQLite file.
        .target(
            name: "DecisionJournal",
            dependencies: [
                "DispatchModel",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Workers, probes, cloud sync, create/shutdown, holds, runner commands, metrics.
        .target(
            name: "WorkerPool",
            dependencies: [
                "DispatchModel",
                "CloudDriver",
                "RemoteExecution",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The cloud driver contract, its error codes, the driver registry and the decorators.
        .target(
            name: "CloudDriver",
            dependencies: [
                "DispatchModel",
                "RemoteExecution",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // The simulated cloud: an in-memory provider for tests, chaos runs, benchmarks and what-if runs (its hot
        // paths compiled for the virtual clock too, hence Simulation).
        .target(
            name: "CloudDriverSimulated",
            dependencies: [
                "CloudDriver",
                "DispatchModel",
                "Simulation",
                "RemoteExecution",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Simulated time: a virtual clock and the one-thread executor that moves it when everything waits.
        .target(name: "Simulation", dependencies: ["CSimulationSupport"]),
        // The Swift runtime's global-enqueue hook, so work a simulation starts off its executor comes back to it.
        .target(name: "CSimulationSupport"),
        // dispatch-cloud simulate: workloads, the dispatcher on a virtual clock over the simulated cloud, reports.
        .target(
            name: "DispatchSimulation",
            dependencies: [
                "ArvadosAPI",
                "CloudDriver",
                "CloudDriverSimulated",
                "ContainerAPIServer",
                "ContainerQueue",
                "DispatchCloud",
                "DispatchConfig",
                "DispatchModel",
                "Scheduler",
                "Simulation",
                "SimulatedRunner",
                "WorkerPool",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // The simulated driver as a product: the simulated cloud with its runners played against the container API.
        .target(
            name: "SimulatedRunner",
            dependencies: [
                "ArvadosAPI",
                "CloudDriver",
                "CloudDriverSimulated",
                "ContainerRunner",
                "DispatchModel",
            ]
        ),
        // The embedded Arvados-compatible container API (containers, logs, token check, discovery) on SQLite.
        .target(
            name: "ContainerAPIServer",
            dependencies: [
                "ArvadosAPI",
                "HTTPServing",
                "TLSSupport",
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                "DispatchModel",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        // The remote-execution seam: executors, targets, command results, the instance-secret host check.
        .target(name: "RemoteExecution", dependencies: ["DispatchModel"]),
        // Remote execution over SSH (swift-nio-ssh): one connection per instance, commands as channels.
        .target(
            name: "SSHExecutor",
            dependencies: [
                "RemoteExecution",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSH", package: "swift-nio-ssh"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // An in-process SSH server that runs exec requests as local processes (the loopback driver's VMs).
        .target(
            name: "SSHServer",
            dependencies: [
                "ProcessSpawning",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSH", package: "swift-nio-ssh"),
            ]
        ),
        // This host as a cloud: instances are in-process SSH servers on 127.0.0.1, persisted under the data directory.
        .target(
            name: "CloudDriverLoopback",
            dependencies: [
                "CloudDriver",
                "DispatchModel",
                "RemoteExecution",
                "SSHServer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSH", package: "swift-nio-ssh"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Commands per second through one SSH connection (in-process server and OpenSSH); a release-build tool.
        .executableTarget(
            name: "ssh-benchmark",
            dependencies: [
                "SSHExecutor",
                "SSHServer",
                "RemoteExecution",
                "CloudDriver",
                "CloudDriverSimulated",
                "DispatchModel",
                "DispatchTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSH", package: "swift-nio-ssh"),
            ],
            path: "Benchmarks/SSHThroughput"
        ),
        // Fakes and fixtures for tests only: manual clock, instance-type menus, process helpers.
        .target(
            name: "DispatchTestSupport",
            dependencies: [
                "TLSSupport",
                "DispatchConfig",
                "ArvadosAPI",
                "ProcessSpawning",
                "ContainerAPIServer",
                "DispatchModel",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                "ManagementAPI",
                "CloudDriver",
                "CloudDriverSimulated",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "DispatchModelTests",
            dependencies: ["DispatchModel", "DispatchTestSupport", "CloudDriverSimulated"]
        ),
        .testTarget(
            name: "DispatchConfigTests",
            dependencies: ["DispatchConfig", "DispatchModel", "DispatchTestSupport"]
        ),
        .testTarget(
            name: "WorkerPoolTests",
            dependencies: [
                "WorkerPool",
                "DispatchModel",
                "DispatchTestSupport",
                "CloudDriver",
                "CloudDriverSimulated",
                "RemoteExecution",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "CloudDriverTests",
            dependencies: [
                "CloudDriver",
                "DispatchModel",
                "DispatchTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "SimulationTests", dependencies: ["Simulation"]),
        .testTarget(
            name: "DispatchSimulationTests",
            dependencies: [
                "ArvadosAPI",
                "CloudDriver",
                "CloudDriverSimulated",
                "ContainerAPIServer",
                "ContainerQueue",
                "DispatchCloud",
                "DispatchConfig",
                "DispatchModel",
                "DispatchSimulation",
                "DispatchTestSupport",
                "Scheduler",
                "SimulatedRunner",
                "Simulation",
                "WorkerPool",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "CloudDriverSimulatedTests",
            dependencies: [
                "CloudDriver",
                "CloudDriverSimulated",
                "RemoteExecution",
                "SimulatedRunner",
                "DispatchModel",
                "DispatchTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "CloudTestingTests",
            dependencies: [
                "CloudDriver",
                "CloudTesting",
                "DispatchConfig",
                "DispatchModel",
                "DispatchTestSupport",
                "SimulatedRunner",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ContainerAPIServerTests",
            dependencies: [
                "ContainerAPIServer",
                "DispatchModel",
                "DispatchTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "SSHExecutorTests",
            dependencies: [
                "SSHExecutor",
                "SSHServer",
                "RemoteExecution",
                "DispatchTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSH", package: "swift-nio-ssh"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "ContainerRunnerTests",
            // Not on the dispatch-runner target: its static link flags would reach the test bundle. The tests run
            // the built binary, which `swift build --build-tests` builds with every other product.
            dependencies: ["ContainerRunner", "ArvadosAPI", "CRunnerSupport", "DispatchModel", "DispatchTestSupport"]
        ),
        .testTarget(
            name: "ContainerQueueTests",
            dependencies: [
                "ContainerQueue",
                "ArvadosAPI",
                "DispatchModel",
                "DispatchTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "CloudDriverLoopbackTests",
            dependencies: [
                "dispatch-cloud",
                "CloudDriver",
                "CloudDriverLoopback",
                "DispatchModel",
                "DispatchTestSupport",
                "RemoteExecution",
                "SSHExecutor",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSH", package: "swift-nio-ssh"),
            ]
        ),
        .testTarget(
            name: "DispatchCloudTests",
            dependencies: [
                "DecisionJournal",
                "TLSSupport",
                "ArvadosAPI",
                "ContainerAPIServer",
                "ContainerQueue",
                "Scheduler",
                "CloudDriver",
                "CloudDriverEC2",
                "CloudDriverLoopback",
                "CloudDriverSimulated",
                "SimulatedRunner",
                "DispatchCloud",
                "DispatchConfig",
                "DispatchModel",
                "DispatchTestSupport",
                "ManagementAPI",
                "RemoteExecution",
                "SSHExecutor",
                "WorkerPool",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "DispatchCloudCLITests",
            dependencies: ["dispatch-cloud", "DispatchConfig", "DispatchTestSupport"]
        ),
        // Scheduling: a pure planner (queue and pool snapshots in, a plan of actions out).
        .target(
            name: "Scheduler",
            dependencies: [
                "DispatchModel",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "SchedulerTests",
            dependencies: ["Scheduler", "DispatchModel", "DispatchTestSupport", "CloudDriverSimulated"]
        ),
        // `swift run -c release scheduler-benchmark`: planning passes at 100,000 containers.
        .executableTarget(
            name: "scheduler-benchmark",
            dependencies: ["Scheduler", "DispatchModel"],
            path: "Benchmarks/SchedulerBenchmark"
        ),
        // `swift run -c release simulation-benchmark day|week`: dispatch-cloud simulate's engine at scale.
        .executableTarget(
            name: "simulation-benchmark",
            dependencies: ["DispatchSimulation", "DispatchConfig"],
            path: "Benchmarks/SimulationBenchmark",
            linkerSettings: staticSwiftRuntime()
        ),
        // `swift run -c release dispatch-benchmark`: warm dispatch latency and throughput of the standalone stack.
        .executableTarget(
            name: "dispatch-benchmark",
            dependencies: [
                "ArvadosAPI",
                "CloudDriver",
                "CloudDriverLoopback",
                "DispatchCloud",
                "DispatchConfig",
                "DispatchModel",
                "WorkerPool",
                "TLSSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/DispatchBenchmark"
        ),
        // `swift run -c release scale-benchmark 1000x100|all`: the built `serve` over the simulated cloud at scale.
        .executableTarget(
            name: "scale-benchmark",
            dependencies: [
                "ArvadosAPI",
                "DispatchModel",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Benchmarks/ScaleBenchmark"
        ),
        // `swift run -c release container-api-benchmark`: creates/s over HTTP and list latency at 100,000 containers.
        .executableTarget(
            name: "container-api-benchmark",
            dependencies: [
                "ContainerAPIServer",
                "DispatchModel",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Benchmarks/ContainerAPIBenchmark"
        ),
        // The operator surface: the management API, /metrics (Prometheus text with summaries), the dashboard.
        .target(
            name: "ManagementAPI",
            dependencies: [
                "ArvadosAPI",
                "HTTPServing",
                "TLSSupport",
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                "DispatchModel",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .testTarget(
            name: "ManagementAPITests",
            dependencies: [
                "ManagementAPI",
                "DispatchModel",
                "DispatchTestSupport",
                "dispatch-cloud",
                "CloudDriver",
                "CloudDriverSimulated",
                "Scheduler",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Amazon EC2 over its Query API: SigV4-signed requests (swift-crypto) over AsyncHTTPClient, XML replies.
        .target(
            name: "CloudDriverEC2",
            dependencies: [
                "CloudDriver",
                "DispatchModel",
                "RemoteExecution",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "CloudDriverEC2Tests",
            dependencies: [
                "CloudDriverEC2",
                "CloudDriver",
                "CloudDriverLoopback",
                "DispatchModel",
                "DispatchTestSupport",
                "RemoteExecution",
                "SSHExecutor",
                "dispatch-cloud",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSH", package: "swift-nio-ssh"),
            ]
        ),
    ]
)

for target in package.targets where !["CRunnerSupport", "CSimulationSupport"].contains(target.name) {
    var settings = target.swiftSettings ?? []
    // SE-0335: write `any` for existentials, so every dynamic dispatch is visible.
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    // SE-0444: a file sees only the members of modules it imports itself.
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    // SE-0409: imports are internal unless written `public import`.
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    // Every public type states whether it is Sendable; and warnings are errors, for this package's own targets
    // only. Here rather than as `-Xswiftc -warnings-as-errors` on the command line, which changes every
    // dependency's compile too: `swift run dispatch-cloud demo` and `scripts/check.sh` then share one build.
    settings.append(.unsafeFlags(["-Xfrontend", "-require-explicit-sendable", "-warnings-as-errors"]))
    // Release builds only: exclusive access is checked at compile time but not again at run time, and generic code
    // is specialised across modules. Debug builds, which every test runs, keep the run-time checks, so an overlapping
    // access traps there. Measured on `simulation-benchmark day` (a simulated day, 6 million probes): the checks
    // took 7% of its time, half in the checks themselves (a begin and end around each access to an actor's or a
    // worker's `var`), half in the optimisations they prevent.
    settings.append(
        .unsafeFlags(["-enforce-exclusivity=unchecked", "-cross-module-optimization"], .when(configuration: .release))
    )
    target.swiftSettings = settings
}
