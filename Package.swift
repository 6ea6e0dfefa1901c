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
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssh.git", .upToNextMinor(from: "0.15.1")),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
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
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSH", package: "swift-nio-ssh"),
            ]
        ),
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
            name: "DispatchCloudCLITests",
            dependencies: ["dispatch-cloud", "dispatch-runner", "DispatchTestSupport"]
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
