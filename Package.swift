// swift-tools-version:6.2
import PackageDescription

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
    ],
    targets: [
        // Identifiers, instance types, containers, resources, the runner wire format, instance-type choice.
        .target(name: "DispatchModel"),
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
            dependencies: ["DispatchModel", "DispatchConfig"]
        ),
        .executableTarget(
            name: "dispatch-cloud",
            dependencies: [
                "DispatchCloud",
                "DispatchConfig",
                "DispatchModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "dispatch-runner",
            dependencies: [
                "DispatchModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Workers, probes, cloud sync, create/shutdown, metrics. For now: the worker state machine.
        .target(name: "WorkerPool", dependencies: ["DispatchModel"]),
        // Fakes and fixtures for tests only: manual clock, instance-type menus, process helpers.
        .target(name: "DispatchTestSupport", dependencies: ["DispatchModel"]),
        .testTarget(
            name: "DispatchModelTests",
            dependencies: ["DispatchModel", "DispatchTestSupport"]
        ),
        .testTarget(
            name: "DispatchConfigTests",
            dependencies: ["DispatchConfig", "DispatchModel", "DispatchTestSupport"]
        ),
        .testTarget(
            name: "WorkerPoolTests",
            dependencies: ["WorkerPool", "DispatchModel", "DispatchTestSupport"]
        ),
        .testTarget(
            name: "DispatchCloudCLITests",
            dependencies: ["dispatch-cloud", "dispatch-runner", "DispatchTestSupport"]
        ),
        // Scheduling: a pure planner (queue and pool snapshots in, a plan of actions out).
        .target(name: "Scheduler", dependencies: ["DispatchModel"]),
        .testTarget(
            name: "SchedulerTests",
            dependencies: ["Scheduler", "DispatchModel", "DispatchTestSupport"]
        ),
        // `swift run -c release scheduler-benchmark`: planning passes at 100,000 containers.
        .executableTarget(
            name: "scheduler-benchmark",
            dependencies: ["Scheduler", "DispatchModel"],
            path: "Benchmarks/SchedulerBenchmark"
        ),
    ]
)

for target in package.targets {
    var settings = target.swiftSettings ?? []
    // SE-0335: write `any` for existentials, so every dynamic dispatch is visible.
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    // SE-0444: a file sees only the members of modules it imports itself.
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    // SE-0409: imports are internal unless written `public import`.
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    // Every public type states whether it is Sendable.
    settings.append(.unsafeFlags(["-Xfrontend", "-require-explicit-sendable"]))
    target.swiftSettings = settings
}
