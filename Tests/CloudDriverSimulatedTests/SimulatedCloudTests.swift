import CloudDriver
import CloudDriverSimulated
import DispatchModel
import DispatchTestSupport
import Foundation
import Logging
import RemoteExecution
import Testing

@Suite("Simulated cloud")
struct SimulatedCloudTests {
    @Test("Creating beyond MaxInstances is a quota error until an instance is destroyed")
    func quota() async throws {
        let cloud = try Sim.cloud(#"{"MaxInstances": 2}"#)
        let first = try await Sim.create(cloud)
        _ = try await Sim.create(cloud)
        await #expect {
            _ = try await Sim.create(cloud)
        } throws: { ($0 as? CloudError)?.code == .quotaExceeded }
        try await first.destroy()
        _ = try await Sim.create(cloud)
        #expect(await cloud.instanceCount == 2)
    }

    @Test("Capacity errors hit only the configured type, scoped to that type")
    func capacity() async throws {
        let cloud = try Sim.cloud(#"{"CapacityErrors": {"providertype1": 1}}"#)
        await #expect {
            _ = try await Sim.create(cloud, type: Sim.type1)
        } throws: { error in
            let error = error as? CloudError
            return error?.code == .insufficientCapacity && error?.capacityScope == .instanceType(Sim.type1)
        }
        _ = try await Sim.create(cloud, type: Sim.type2)
        #expect(await cloud.instanceCount == 1)
    }

    @Test("A rate-limit error carries the configured retryAfter", arguments: ["Create", "List"])
    func rateLimited(operation: String) async throws {
        let cloud = try Sim.cloud(#"{"RateLimitErrorRate": 1, "RateLimitRetryAfter": "7s"}"#)
        await #expect {
            if operation == "Create" {
                _ = try await Sim.create(cloud)
            } else {
                _ = try await cloud.instances(tagged: [:])
            }
        } throws: { error in
            let error = error as? CloudError
            return error?.code == .rateLimited && error?.retryAfter == .seconds(7)
        }
    }

    @Test("A call sooner than MinTimeBetweenCalls after the last one is rate limited until then")
    func minTimeBetweenCalls() async throws {
        let clock = ManualClock()
        let cloud = try Sim.cloud(#"{"MinTimeBetweenCalls": {"Create": "10s"}}"#, clock: clock)
        _ = try await Sim.create(cloud)
        clock.advance(by: .seconds(4))
        await #expect {
            _ = try await Sim.create(cloud)
        } throws: { error in
            let error = error as? CloudError
            return error?.code == .rateLimited && error?.retryAfter == .seconds(6)
        }
        _ = try await cloud.instances(tagged: [:])
        clock.advance(by: .seconds(6))
        _ = try await Sim.create(cloud)
        #expect(await cloud.instanceCount == 2)
    }

    @Test("Held creates and destroys wait until released, oldest first", .timeLimit(.minutes(1)))
    func holdCloudOperations() async throws {
        let cloud = try Sim.cloud()
        let existing = try await Sim.create(cloud)
        await cloud.holdCloudOperations()
        let creates = (0..<2).map { _ in Task { try await Sim.create(cloud) } }
        await cloud.waitForHeldOperations(2)
        let destroy = Task { try await existing.destroy() }
        await cloud.waitForHeldOperations(3)
        #expect(await cloud.instanceCount == 1)
        await cloud.releaseCloudOperations(2)
        #expect(await cloud.heldOperationCount == 1)
        for create in creates { _ = try await create.value }
        #expect(await cloud.instanceCount == 3)
        await cloud.releaseCloudOperations(1)
        try await destroy.value
        #expect(await cloud.instanceCount == 2)
    }

    @Test("Configured error rates fail the operation with an other error")
    func errorRates() async throws {
        let cloud = try Sim.cloud(#"{"ErrorRates": {"Destroy": 1, "SetTags": 1}}"#)
        let instance = try await Sim.create(cloud)
        await #expect { try await instance.destroy() } throws: { ($0 as? CloudError)?.code == .other }
        await #expect { try await instance.setTags(["a": "b"]) } throws: { ($0 as? CloudError)?.code == .other }
        #expect(await cloud.instanceCount == 1)
    }

    @Test(
        "Over many calls the observed error rate stays within tolerance of the configured one",
        arguments: [(0.1, 1), (0.1, 2), (0.3, 3), (0.02, 4)]
    )
    func errorRateTolerance(rate: Double, seed: Int) async throws {
        let calls = 2_000
        let cloud = try Sim.cloud(#"{"MaxInstances": 0, "Seed": \#(seed), "ErrorRates": {"Create": \#(rate)}}"#)
        var failures = 0
        for _ in 0..<calls {
            do {
                _ = try await Sim.create(cloud)
            } catch {
                #expect(error.code == .other)
                failures += 1
            }
        }
        // Four standard deviations of the binomial count: a correct generator fails this about once in 15,000 runs.
        let expected = Double(calls) * rate
        let tolerance = 4 * (Double(calls) * rate * (1 - rate)).squareRoot()
        #expect(abs(Double(failures) - expected) <= tolerance, "\(failures) failures, expected about \(expected)")
        #expect(await cloud.instanceCount == calls - failures)
    }

    @Test("Tags are replaced by setTags and filter the list; a destroyed instance is not found")
    func tagsAndDestroy() async throws {
        let cloud = try Sim.cloud()
        let tagged = try await Sim.create(cloud, tags: ["set": "a", "x": "1"])
        _ = try await Sim.create(cloud, tags: ["set": "b"])
        try await tagged.setTags(["set": "a", "y": "2"])
        let listed = try await cloud.instances(tagged: ["set": "a"])
        #expect(listed.map(\.id) == [tagged.id])
        #expect(listed.first?.tags == ["set": "a", "y": "2"])
        try await tagged.destroy()
        await #expect { try await tagged.destroy() } throws: { ($0 as? CloudError)?.code == .notFound }
        await #expect { _ = try await tagged.run("true") } throws: { ($0 as? CloudError)?.code == .notFound }
        #expect(try await cloud.instances(tagged: [:]).count == 1)
    }

    @Test("A destroyed instance stays listed and counted, answering nothing, for its shutdown time")
    func shutdown() async throws {
        let clock = ManualClock()
        let cloud = try Sim.cloud(
            #"{"ShutdownTime": {"Min": "30s", "Max": "30s"}, "MaxInstances": 1, "RunTime": {"Min": "10s", "Max": "10s"}}"#,
            clock: clock
        )
        let instance = try await Sim.create(cloud)
        let uuid = ContainerUUID(rawValue: "zzzzz-dz642-aaaaaaaaaaaaaaa")
        _ = try await instance.run("crunch-run --detach --stdin-config '\(uuid)'", stdin: Sim.config)
        try await instance.destroy()
        try await instance.destroy()
        #expect(try await cloud.instances(tagged: [:]).map(\.id) == [instance.id])
        await #expect { _ = try await instance.run("true") } throws: { ($0 as? CloudError)?.code == .other }
        await #expect { _ = try await Sim.create(cloud) } throws: { ($0 as? CloudError)?.code == .quotaExceeded }
        clock.advance(by: .seconds(30))
        #expect(try await cloud.instances(tagged: [:]).isEmpty)
        _ = try await Sim.create(cloud)
        let kinds = await drain(cloud).map(\.kind)
        #expect(kinds.contains(.instanceDestroyed) && kinds.contains(.instanceDisappeared))
        #expect(!kinds.contains(.containerExited(uuid, exitCode: 0)))
    }

    @Test("The boot probe fails before the boot time and passes after it")
    func bootProbe() async throws {
        let clock = ManualClock()
        let cloud = try Sim.cloud(#"{"BootTime": {"Min": "30s", "Max": "30s"}}"#, clock: clock)
        let instance = try await Sim.create(cloud)
        let early = try await instance.run("systemctl is-system-running")
        #expect(early.exitStatus != 0)
        #expect(early.stderrText.contains("booting"))
        clock.advance(by: .seconds(29))
        #expect(try await instance.run("systemctl is-system-running").exitStatus != 0)
        clock.advance(by: .seconds(1))
        #expect(try await instance.run("systemctl is-system-running").exitStatus == 0)
    }

    @Test("The instance secret written by the init command is read back")
    func instanceSecret() async throws {
        let cloud = try Sim.cloud()
        let instance = try await Sim.create(cloud)
        let result = try await instance.run("sudo cat /var/run/arvados-instance-secret")
        #expect(result == CommandResult(stdout: Sim.secret, exitStatus: 0))
    }

    @Test("A deployed runner answers md5sum with the MD5 of what was written")
    func deploy() async throws {
        let cloud = try Sim.cloud()
        let instance = try await Sim.create(cloud)
        let path = "/tmp/arvados-crunch-run/crunch-run~5d41402abc4b2a76b9719d911017c592"
        #expect(try await instance.run("md5sum \(path)").exitStatus == 1)
        #expect(try await instance.run("\(path) --list").exitStatus == 127)
        let script =
            "set -e; dstdir=\"/tmp/arvados-crunch-run/\"; dstfile=\"\(path)\"; mkdir -p \"$dstdir\"; "
            + "touch \"$dstfile\"; chmod 0755 \"$dstdir\" \"$dstfile\"; cat >\"$dstfile\""
        let quoted = "'" + script.replacingOccurrences(of: "'", with: "'\\''") + "'"
        #expect(try await instance.run("sudo sh -c \(quoted)", stdin: Array("hello".utf8)).exitStatus == 0)
        let md5 = try await instance.run("md5sum \(path)")
        #expect(md5 == CommandResult(stdout: "5d41402abc4b2a76b9719d911017c592  \(path)\n", exitStatus: 0))
        #expect(try await instance.run("\(path) --list").exitStatus == 0)
    }

    @Test("The same run-probe command is answered by each instance as its own state says")
    func listPerInstance() async throws {
        let clock = ManualClock()
        let cloud = try Sim.cloud(#"{"BootTime": {"Min": "30s", "Max": "30s"}}"#, clock: clock)
        let path = "/tmp/arvados-crunch-run/crunch-run~5d41402abc4b2a76b9719d911017c592"
        let script =
            "set -e; dstdir=\"/tmp/arvados-crunch-run/\"; dstfile=\"\(path)\"; mkdir -p \"$dstdir\"; "
            + "touch \"$dstfile\"; chmod 0755 \"$dstdir\" \"$dstfile\"; cat >\"$dstfile\""
        let deploy = "sudo sh -c '" + script + "'"
        let list = "sudo \(path) --list"
        let a = try await Sim.create(cloud)
        clock.advance(by: .seconds(30))
        let b = try await Sim.create(cloud)
        // The first instance answers the probe (the cloud now knows the command's text) ...
        #expect(try await a.run(deploy, stdin: Array("hello".utf8)).exitStatus == 0)
        #expect(try await a.run(list) == CommandResult(stdout: "", exitStatus: 0))
        // ... and the second answers the same text as its own state says: booting, then without the runner.
        let booting = try await b.run(list)
        #expect(booting.exitStatus == 1 && booting.stderrText.contains("booting"))
        clock.advance(by: .seconds(30))
        #expect(try await b.run(list).exitStatus == 127)
        #expect(try await b.run(deploy, stdin: Array("hello".utf8)).exitStatus == 0)
        let uuid = ContainerUUID(rawValue: "zzzzz-dz642-aaaaaaaaaaaaaaa")
        #expect(try await a.run("sudo \(path) --detach --stdin-config '\(uuid)'", stdin: Sim.config).exitStatus == 0)
        #expect(try await a.run(list).stdoutText == "\(uuid)\n")
        #expect(try await b.run(list) == CommandResult(stdout: "", exitStatus: 0))
        try await a.destroy()
        await #expect { _ = try await a.run(list) } throws: { ($0 as? CloudError)?.code == .notFound }
        #expect(try await b.run(list).exitStatus == 0)
    }

    @Test(
        "MD5 digests match md5sum's",
        arguments: [
            ([UInt8](), "d41d8cd98f00b204e9800998ecf8427e"),
            (Array(repeating: UInt8(ascii: "a"), count: 55), "ef1772b6dff9a122358552954ad0df65"),
            (Array(repeating: UInt8(ascii: "a"), count: 56), "3b0c8ac703f828b04c6c197006d17218"),
            (Array(repeating: UInt8(ascii: "a"), count: 64), "014842d480b571495a4a0363793f7367"),
            (Array((0...255).map { UInt8($0) }.repeated(5)), "82829f1f3f2bb0f18b25f278e5bba8bd"),
        ]
    )
    func md5(content: [UInt8], digest: String) async throws {
        let cloud = try Sim.cloud()
        let instance = try await Sim.create(cloud)
        _ = try await instance.run("dstfile=/bin/x; cat >\"$dstfile\"", stdin: content)
        #expect(try await instance.run("md5sum /bin/x").stdoutText == "\(digest)  /bin/x\n")
    }

    @Test("The MD5 remembered for one deploy is reused only for the same bytes, not for other content of its size")
    func md5Remembered() async throws {
        let cloud = try Sim.cloud()
        let hello = Array("hello".utf8)
        let world = Array("world".utf8)
        for (content, digest) in [
            (hello, "5d41402abc4b2a76b9719d911017c592"), (hello, "5d41402abc4b2a76b9719d911017c592"),
            (world, "7d793037a0760186574b0282f2f435e7"), (Array("hello".utf8), "5d41402abc4b2a76b9719d911017c592"),
        ] {
            let instance = try await Sim.create(cloud)
            _ = try await instance.run("dstfile=/bin/x; cat >\"$dstfile\"", stdin: content)
            #expect(try await instance.run("md5sum /bin/x").stdoutText == "\(digest)  /bin/x\n")
        }
    }

    @Test("Detach, list and kill round-trip, and a container ends after its run time with its exit code")
    func runnerRoundTrip() async throws {
        let clock = ManualClock()
        let cloud = try Sim.cloud(#"{"RunTime": {"Min": "60s", "Max": "60s"}, "ExitCodes": {"3": 1}}"#, clock: clock)
        let instance = try await Sim.create(cloud)
        let a = ContainerUUID(rawValue: "zzzzz-dz642-aaaaaaaaaaaaaaa")
        let b = ContainerUUID(rawValue: "zzzzz-dz642-bbbbbbbbbbbbbbb")
        // Listed before any start: a kept answer must not outlive the starts below.
        #expect(try await instance.run("crunch-run --list").stdoutText == "")
        for uuid in [b, a] {
            let started = try await instance.run(
                "crunch-run --detach --stdin-config '--runtime-engine=docker' '\(uuid)'",
                stdin: Sim.config
            )
            #expect(started.exitStatus == 0)
            #expect(started.stdoutText.contains(uuid.rawValue))
        }
        let again = try await instance.run("crunch-run --detach --stdin-config '\(a)'", stdin: Sim.config)
        #expect(again.exitStatus == 1)
        let badConfig = try await instance.run(
            "crunch-run --detach --stdin-config 'zzzzz-dz642-ccccccccccccccc'",
            stdin: Array("nope".utf8)
        )
        #expect(badConfig.exitStatus == 1)

        #expect(try await instance.run("crunch-run --list").stdoutText == "\(a)\n\(b)\n")
        #expect(try await instance.run("sudo crunch-run --list").stdoutText == "\(a)\n\(b)\n")
        #expect(try await instance.run("crunch-run --kill 15 \(a)").exitStatus == 0)
        #expect(try await instance.run("crunch-run --kill 15 \(a)").exitStatus == 0)
        #expect(try await instance.run("crunch-run --list").stdoutText == "\(b)\n")

        clock.advance(by: .seconds(59))
        #expect(try await instance.run("crunch-run --list").stdoutText == "\(b)\n")
        clock.advance(by: .seconds(1))
        #expect(try await instance.run("crunch-run --list").stdoutText == "")

        let id = instance.id
        #expect(
            await drain(cloud) == [
                .init(kind: .instanceCreated(providerType: "providertype1"), instanceID: id, elapsed: .zero),
                .init(kind: .containerStarted(b), instanceID: id, elapsed: .zero),
                .init(kind: .containerStarted(a), instanceID: id, elapsed: .zero),
                .init(kind: .containerKilled(a, signal: 15), instanceID: id, elapsed: .zero),
                .init(kind: .containerExited(b, exitCode: 3), instanceID: id, elapsed: .seconds(60)),
            ]
        )
    }

    @Test("The run loop reports a container's end when it comes due", .timeLimit(.minutes(1)))
    func runLoop() async throws {
        let clock = ManualClock()
        let cloud = try Sim.cloud(#"{"RunTime": {"Min": "10m", "Max": "10m"}}"#, clock: clock)
        let loop = Task { await cloud.run() }
        let instance = try await Sim.create(cloud)
        let uuid = ContainerUUID(rawValue: "zzzzz-dz642-aaaaaaaaaaaaaaa")
        _ = try await instance.run("crunch-run --detach --stdin-config '\(uuid)'", stdin: Sim.config)
        clock.advance(by: .seconds(600))
        var events = cloud.events.makeAsyncIterator()
        var finished: SimulatedCloudEvent?
        while let event = await events.next() {
            if case .containerExited = event.kind {
                finished = event
                break
            }
        }
        #expect(
            finished
                == .init(kind: .containerExited(uuid, exitCode: 0), instanceID: instance.id, elapsed: .seconds(600))
        )
        await cloud.stop()
        await loop.value
    }

    @Test("A broken instance reports broken in --list")
    func broken() async throws {
        let cloud = try Sim.cloud(#"{"BrokenRate": 1}"#)
        let instance = try await Sim.create(cloud)
        let list = try await instance.run("crunch-run --list")
        #expect(RunnerList(parsing: list.stdoutText, clusterID: "zzzzz") == RunnerList(broken: true))
    }

    @Test("Instances of a type created within its BrokenAtFirst window fail every command; later ones work")
    func brokenAtFirst() async throws {
        let clock = ManualClock()
        let cloud = try Sim.cloud(#"{"BrokenAtFirst": {"\#(Sim.type1.providerType)": "5s"}}"#, clock: clock)
        let early = try await Sim.create(cloud)
        let otherType = try await Sim.create(cloud, type: Sim.type2)
        #expect(try await early.run("true").exitStatus == 2)
        #expect(try await early.run("crunch-run --list").exitStatus == 2)
        #expect(try await otherType.run("true").exitStatus == 0)
        clock.advance(by: .seconds(5))
        let late = try await Sim.create(cloud)
        #expect(try await late.run("true").exitStatus == 0)
        #expect(try await early.run("true").exitStatus == 2, "an instance created broken stays broken")
    }

    @Test("A lock that outlives its container is reported stale and blocks a new start")
    func staleLock() async throws {
        let clock = ManualClock()
        let cloud = try Sim.cloud(#"{"StaleLockRate": 1, "RunTime": {"Min": "10s", "Max": "10s"}}"#, clock: clock)
        let instance = try await Sim.create(cloud)
        let uuid = ContainerUUID(rawValue: "zzzzz-dz642-aaaaaaaaaaaaaaa")
        _ = try await instance.run("crunch-run --detach --stdin-config '\(uuid)'", stdin: Sim.config)
        clock.advance(by: .seconds(10))
        let list = try await instance.run("crunch-run --list")
        #expect(list.stdoutText == "\(uuid) stale\n")
        #expect(RunnerList(parsing: list.stdoutText, clusterID: "zzzzz") == RunnerList(stale: [uuid]))
        #expect(
            try await instance.run("crunch-run --detach --stdin-config '\(uuid)'", stdin: Sim.config).exitStatus == 1
        )
    }

    @Test("With WaitsForRunnerUpdates an exited container stays listed until finalized, then leaves its stale lock")
    func listedUntilFinalized() async throws {
        let clock = ManualClock()
        let cloud = try Sim.cloud(
            #"{"WaitsForRunnerUpdates": true, "StaleLockRate": 1, "RunTime": {"Min": "10s", "Max": "10s"}}"#,
            clock: clock
        )
        let instance = try await Sim.create(cloud)
        let uuid = ContainerUUID(rawValue: "zzzzz-dz642-aaaaaaaaaaaaaaa")
        _ = try await instance.run("crunch-run --detach --stdin-config '\(uuid)'", stdin: Sim.config)
        await cloud.acknowledgeStarted(uuid, on: instance.id)
        clock.advance(by: .seconds(10))
        #expect(try await instance.run("crunch-run --list").stdoutText == "\(uuid)\n", "exited, not finalized yet")
        await cloud.finalized(uuid, on: instance.id)
        #expect(try await instance.run("crunch-run --list").stdoutText == "\(uuid) stale\n")
        let kinds = await drain(cloud).map(\.kind)
        let exited = kinds.firstIndex { if case .containerExited(uuid, _) = $0 { true } else { false } }
        let stale = kinds.firstIndex(of: .lockLeftStale(uuid))
        #expect(exited != nil && stale != nil && exited! < stale!, "the lock is left at finalization: \(kinds)")
    }

    @Test("With WaitsForRunnerUpdates a run due before its start is acknowledged ends at the acknowledgement")
    func endWaitsForStart() async throws {
        let clock = ManualClock()
        let cloud = try Sim.cloud(
            #"{"WaitsForRunnerUpdates": true, "RunnerCrashRate": 1, "RunTime": {"Min": "10s", "Max": "10s"}}"#,
            clock: clock
        )
        let instance = try await Sim.create(cloud)
        let uuid = ContainerUUID(rawValue: "zzzzz-dz642-aaaaaaaaaaaaaaa")
        _ = try await instance.run("crunch-run --detach --stdin-config '\(uuid)'", stdin: Sim.config)
        clock.advance(by: .seconds(20))
        #expect(try await instance.run("crunch-run --list").stdoutText == "\(uuid)\n", "due, but not acknowledged")
        await cloud.acknowledgeStarted(uuid, on: instance.id)
        #expect(try await instance.run("crunch-run --list").stdoutText == "", "crashed at the acknowledgement")
        let kinds = await drain(cloud).map(\.kind)
        #expect(kinds.contains(.runnerCrashed(uuid)))
    }

    @Test("A crashing runner ends without an exit code")
    func runnerCrash() async throws {
        let clock = ManualClock()
        let cloud = try Sim.cloud(#"{"RunnerCrashRate": 1, "RunTime": {"Min": "10s", "Max": "10s"}}"#, clock: clock)
        let instance = try await Sim.create(cloud)
        let uuid = ContainerUUID(rawValue: "zzzzz-dz642-aaaaaaaaaaaaaaa")
        _ = try await instance.run("crunch-run --detach --stdin-config '\(uuid)'", stdin: Sim.config)
        clock.advance(by: .seconds(10))
        #expect(try await instance.run("crunch-run --list").stdoutText == "")
        let kinds = await drain(cloud).map(\.kind)
        #expect(kinds.contains(.runnerCrashed(uuid)))
        #expect(!kinds.contains { if case .containerExited = $0 { true } else { false } })
    }

    @Test("With the runner missing every runner command exits 127 while other commands work")
    func runnerMissing() async throws {
        let cloud = try Sim.cloud(#"{"RunnerMissingRate": 1}"#)
        let instance = try await Sim.create(cloud)
        #expect(try await instance.run("crunch-run --list").exitStatus == 127)
        #expect(try await instance.run("true").exitStatus == 0)
    }

    @Test("An unresponsive instance stops answering at its time")
    func unresponsive() async throws {
        let clock = ManualClock()
        let cloud = try Sim.cloud(
            #"{"UnresponsiveRate": 1, "UnresponsiveAfter": {"Min": "5s", "Max": "5s"}, "BootTime": {"Min": 0, "Max": 0}}"#,
            clock: clock
        )
        let instance = try await Sim.create(cloud)
        #expect(try await instance.run("true").exitStatus == 0)
        clock.advance(by: .seconds(5))
        await #expect { _ = try await instance.run("true") } throws: { ($0 as? CloudError)?.code == .other }
    }

    @Test("Simulated instances keep running commands in memory through the decorator stack")
    func decorated() async throws {
        let clock = ManualClock()
        let cloud = try Sim.cloud(clock: clock)
        let set = cloud.decorated(
            maxCloudOpsPerSecond: 0,
            resourceTags: ["team": "sim"],
            clock: clock,
            metricsFactory: InMemoryMetricsFactory(),
            logger: Logger(label: "test")
        )
        let instance = try await set.create(
            type: Sim.type1,
            imageID: "image",
            tags: [:],
            initCommand: Sim.initCommand,
            publicKey: nil
        )
        #expect(instance.tags == ["team": "sim"])
        #expect(try await instance.base.base.run("cat /var/run/arvados-instance-secret").stdoutText == Sim.secret)
    }
}

extension Array {
    func repeated(_ count: Int) -> [Element] {
        Array((0..<count).map { _ in self }.joined())
    }
}
