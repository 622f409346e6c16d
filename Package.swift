// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Lifeboat",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "lifeboat", targets: ["lifeboat"]),
        .executable(name: "lifeboatd", targets: ["lifeboatd"]),
        .library(name: "LifeboatCore", targets: ["LifeboatCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        // Named for the products the API target imports directly (Hummingbird depends on them).
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // The durable history: SQLite (Debian's libsqlite3) with migrations and WAL.
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        // /metrics: swift-metrics' API with the Prometheus text exposition.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // C shims over the system libraries (Debian: libcpg-dev libquorum-dev libqb-dev,
        // libfreeipmi-dev libipmiconsole-dev). Not API: wrapped by Swift namespaces.
        .systemLibrary(
            name: "CCorosync", path: "Sources/CCorosync", pkgConfig: "libcpg",
            providers: [.apt(["libcpg-dev", "libquorum-dev", "libqb-dev"])]),
        .systemLibrary(
            name: "CLibvirt", path: "Sources/CLibvirt", pkgConfig: "libvirt", providers: [.apt(["libvirt-dev"])]),
        .systemLibrary(
            name: "CFreeIPMI", path: "Sources/CFreeIPMI", pkgConfig: "libfreeipmi",
            providers: [.apt(["libfreeipmi-dev", "libipmiconsole-dev"])]),

        // The pure decision core: model, events, apply, scheduler, scenarios. No I/O.
        .target(name: "LifeboatCore"),

        // Thin wrappers over the system: the C libraries link; child processes in their own
        // process group (fence and OCF agents); blocking calls on threads of their own.
        .target(
            name: "LifeboatSystem",
            dependencies: ["CCorosync", "CFreeIPMI", "LifeboatCore", .product(name: "Logging", package: "swift-log")]),

        // Corosync CPG + quorum bindings: a dispatch thread feeding an AsyncStream.
        .target(name: "LifeboatCorosync", dependencies: ["CCorosync"]),

        // The replicated state machine over CPG (pure: testable without a cluster).
        .target(name: "LifeboatReplication", dependencies: ["LifeboatCore"]),

        // Fencing: native IPMI on libfreeipmi, stock fence agents, SOL console capture.
        .target(name: "LifeboatFencing", dependencies: ["CFreeIPMI", "LifeboatCore", "LifeboatSystem"]),

        // Resource agents: the OCF runner (Pacemaker's conventions), resource monitors and
        // the local executor of restarts.
        .target(name: "LifeboatAgents", dependencies: ["LifeboatCore", "LifeboatSystem", "CLibvirt"]),

        // OpenStack: Keystone v3 + Nova client (clouds.yaml, tokens, catalog, microversions),
        // the Nova executors and the live inventory.
        .target(name: "LifeboatOpenStack", dependencies: ["LifeboatCore", .product(name: "Yams", package: "Yams")]),

        // Local persistence: the replicated state as a checksummed snapshot plus an event log.
        .target(name: "LifeboatStore", dependencies: ["LifeboatCore", "LifeboatReplication"]),

        // The durable history: every replicated history entry and incident in SQLite on every
        // node, queries for `lifeboat history`/`incident show`, and the SLA report.
        .target(
            name: "LifeboatHistory",
            dependencies: ["LifeboatCore", "LifeboatReplication", .product(name: "GRDB", package: "GRDB.swift")]),

        // The HTTP API: Masakari v1 (segments, hosts, notifications, vmoves) and Lifeboat's
        // own paths, on Hummingbird; Keystone token validation. Pure request handling in
        // `MasakariAPI` (testable without a socket), the server shell in `APIServer`.
        .target(
            name: "LifeboatAPI",
            dependencies: [
                "LifeboatCore", "LifeboatOpenStack", "LifeboatHistory",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]),

        // The daemon shell: Corosync session, replica, leader, executors, control socket.
        .target(
            name: "LifeboatDaemon",
            dependencies: [
                "LifeboatCore", "LifeboatReplication", "LifeboatCorosync", "LifeboatStore", "LifeboatFencing", "LifeboatOpenStack",
                "LifeboatAgents", "LifeboatSystem", "LifeboatAPI", "LifeboatHistory",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
        .executableTarget(
            name: "lifeboatd", dependencies: ["LifeboatDaemon", "LifeboatFencing", "LifeboatOpenStack", "LifeboatAgents", "LifeboatCore", "LifeboatSystem"]),

        .executableTarget(
            name: "lifeboat",
            dependencies: [
                "LifeboatCore", "LifeboatSystem", "LifeboatCorosync", "LifeboatReplication", "LifeboatDaemon", "LifeboatFencing",
                "LifeboatOpenStack", "LifeboatAgents", "LifeboatHistory",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .testTarget(
            name: "LifeboatCoreTests",
            dependencies: [
                "LifeboatCore",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            resources: []),
        .testTarget(name: "LifeboatSystemTests", dependencies: ["LifeboatSystem", "LifeboatCorosync"]),
        .testTarget(name: "LifeboatFencingTests", dependencies: ["LifeboatFencing", "LifeboatCore"]),
        .testTarget(name: "LifeboatAgentsTests", dependencies: ["LifeboatAgents", "LifeboatCore"]),
        .testTarget(
            name: "LifeboatAPITests",
            dependencies: ["LifeboatAPI", "LifeboatCore", .product(name: "PropertyBased", package: "swift-property-based")]),
        .testTarget(name: "LifeboatOpenStackTests", dependencies: ["LifeboatOpenStack", "LifeboatCore"]),
        .testTarget(
            name: "LifeboatHistoryTests",
            dependencies: ["LifeboatHistory", "LifeboatCore", "LifeboatReplication", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "LifeboatDaemonTests", dependencies: ["LifeboatDaemon", "LifeboatCore"]),
        .testTarget(
            name: "LifeboatReplicationTests", dependencies: ["LifeboatReplication", "LifeboatCore", "LifeboatStore"],
            exclude: ["Golden"]),
    ],
    swiftLanguageModes: [.v6]
)
