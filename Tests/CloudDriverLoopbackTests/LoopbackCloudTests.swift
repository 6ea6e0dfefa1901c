import CloudDriver
import CloudDriverLoopback
import Crypto
import DispatchModel
import DispatchTestSupport
import Foundation
import NIOSSH
import RemoteExecution
import SSHExecutor
import Testing

@Suite("Loopback cloud")
struct LoopbackCloudTests {
    @Test("Several instances each have their own host key, address, lock directory and working directory")
    func severalInstances() async throws {
        let fixture = try LoopbackFixture()
        let cloud = try fixture.open()
        let instances = [
            try await fixture.create(cloud), try await fixture.create(cloud), try await fixture.create(cloud),
        ]
        #expect(Set(instances.map(\.id)).count == 3)
        #expect(Set(instances.map(\.hostPublicKey)).count == 3)
        #expect(Set(instances.map(\.address)).count == 3)
        #expect(Set(instances.map(\.lockDirectory)).count == 3)
        for instance in instances {
            #expect(instance.address.hasPrefix("127.0.0.1:"))
            #expect(instance.hostPublicKey.hasPrefix("ssh-ed25519 "))
            let result = try await fixture.run("echo \"$DISPATCH_RUNNER_LOCK_DIR\"; pwd", on: instance)
            #expect(result.stdoutText == "\(instance.lockDirectory)\n\(instance.stateDirectory)/work\n")
        }
        let listed = try await cloud.instances(tagged: [:])
        #expect(listed.map(\.id).sorted() == instances.map(\.id).sorted())
        await fixture.tearDown(cloud)
    }

    @Test("dispatch-runner --list on one instance shows only that instance's containers")
    func runnerListIsPerInstance() async throws {
        let runner = ProcessRunner.product("dispatch-runner").path
        try #require(FileManager.default.isExecutableFile(atPath: runner), "build dispatch-runner first")
        let fixture = try LoopbackFixture()
        let cloud = try fixture.open()
        let first = try await fixture.create(cloud)
        let second = try await fixture.create(cloud)
        let uuid = "zzzzz-dz642-000000000000042"
        let lock = try HeldRunnerLock(uuid: uuid, in: second.lockDirectory, pid: getpid())

        let onFirst = try await fixture.run("\(runner) --list", on: first)
        let onSecond = try await fixture.run("\(runner) --list", on: second)
        lock.release()

        #expect(onFirst.exitStatus == 0, "\(onFirst.stderrText)")
        #expect(!onFirst.stdoutText.contains(uuid))
        #expect(onSecond.exitStatus == 0, "\(onSecond.stderrText)")
        #expect(onSecond.stdoutText.split(separator: "\n").contains(Substring(uuid)))
        await fixture.tearDown(cloud)
    }

    @Test("Creating beyond MaxInstances fails with a quota error; after a destroy, create works again")
    func quota() async throws {
        let fixture = try LoopbackFixture(maxInstances: 2)
        let cloud = try fixture.open()
        let first = try await fixture.create(cloud)
        _ = try await fixture.create(cloud)
        let quotaError = await #expect(throws: CloudError.self) {
            _ = try await fixture.create(cloud)
        }
        #expect(quotaError?.code == .quotaExceeded)
        try await first.destroy()
        let again = try await fixture.create(cloud)
        let result = try await fixture.run("true", on: again)
        #expect(result.exitStatus == 0)
        #expect(try await cloud.instances(tagged: [:]).count == 2)
        await fixture.tearDown(cloud)
    }

    @Test(
        "Commands report standard output, standard error and exit status, with a leading sudo stripped",
        arguments: [
            ("echo out; echo err >&2; exit 3", "out\n", "err\n", 3),
            ("sudo echo hello", "hello\n", "", 0),
            ("sudo sh -c 'echo in sh; exit 7'", "in sh\n", "", 7),
            ("echo sudo stays", "sudo stays\n", "", 0),
            ("exit 0", "", "", 0),
        ]
    )
    func commands(command: String, stdout: String, stderr: String, status: Int) async throws {
        let fixture = try LoopbackFixture()
        let cloud = try fixture.open()
        let instance = try await fixture.create(cloud)
        let result = try await fixture.run(command, on: instance)
        #expect(result.stdoutText == stdout)
        #expect(result.stderrText == stderr)
        #expect(result.exitStatus == status)
        await fixture.tearDown(cloud)
    }

    @Test("A client key other than the dispatcher's is rejected")
    func wrongClientKey() async throws {
        let fixture = try LoopbackFixture()
        let cloud = try fixture.open()
        let instance = try await fixture.create(cloud)
        let stranger = fixture.executor(instance, key: NIOSSHPrivateKey(ed25519Key: Curve25519.Signing.PrivateKey()))
        let error = await #expect(throws: RemoteExecutionError.self) {
            _ = try await stranger.execute("true")
        }
        #expect(error?.code == .authFailed)
        await stranger.close()
        await fixture.tearDown(cloud)
    }

    @Test("An instance verifies its own host key and rejects another instance's")
    func hostKeyVerification() async throws {
        let fixture = try LoopbackFixture()
        let cloud = try fixture.open()
        let first = try await fixture.create(cloud)
        let second = try await fixture.create(cloud)
        #expect(try await first.verifyHostKey(first.hostPublicKey + " comment") == .verified)
        await #expect(throws: CloudError.self) {
            _ = try await first.verifyHostKey(second.hostPublicKey)
        }
        await fixture.tearDown(cloud)
    }

    @Test("The init command writes the secret into the instance's state directory, readable at the standard path")
    func instanceSecret() async throws {
        let fixture = try LoopbackFixture()
        let cloud = try fixture.open()
        let secret = InstanceSecret.generate()
        let instance = try await fixture.create(cloud, secret: secret)
        #expect(instance.instanceSecretPath.hasPrefix(instance.stateDirectory + "/"))
        let attributes = try FileManager.default.attributesOfItem(atPath: instance.instanceSecretPath)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try String(contentsOfFile: instance.instanceSecretPath, encoding: .utf8) == secret.rawValue)
        let readBack = try await fixture.run("sudo cat \(InstanceSecret.path)", on: instance)
        #expect(readBack.stdoutText == secret.rawValue)
        await fixture.tearDown(cloud)
    }

    @Test("After a restart the same instances are listed with the same IDs, tags and host keys, and answer")
    func restartPersistence() async throws {
        let fixture = try LoopbackFixture()
        let cloud = try fixture.open()
        let first = try await fixture.create(cloud, tags: ["Name": "first"])
        let second = try await fixture.create(cloud, tags: ["Name": "second"])
        try await second.setTags(second.tags.merging(["ArvadosIdleBehavior": "hold"]) { $1 })
        let before = try await cloud.instances(tagged: [:])
        await cloud.stop()

        let reopened = try fixture.open()
        let after = try await reopened.instances(tagged: [:])
        #expect(after.map(\.id) == before.map(\.id))
        #expect(after.map(\.tags) == before.map(\.tags))
        #expect(after.map(\.hostPublicKey) == before.map(\.hostPublicKey))
        #expect(after.first { $0.id == second.id }?.tags["ArvadosIdleBehavior"] == "hold")
        #expect(Set(after.map(\.id)) == [first.id, second.id])
        for instance in after {
            #expect(!instance.address.isEmpty)
            let result = try await fixture.run("echo \"$DISPATCH_RUNNER_LOCK_DIR\"", on: instance)
            #expect(result.stdoutText == instance.lockDirectory + "\n")
            let record = try FileManager.default.attributesOfItem(atPath: instance.stateDirectory + "/instance.json")
            #expect((record[.posixPermissions] as? Int) == 0o600)
        }
        await fixture.tearDown(reopened)
    }

    @Test("A create interrupted before its record was written leaves nothing after a restart; real instances stay")
    func interruptedCreate() async throws {
        let fixture = try LoopbackFixture()
        let cloud = try fixture.open()
        let kept = try await fixture.create(cloud)
        await cloud.stop()
        // What a dispatcher killed between making an instance's directories and writing its record leaves.
        let interrupted = fixture.directory.file("instances/lb-0123456789ab")
        for directory in ["lock", "work"] {
            try FileManager.default.createDirectory(
                atPath: interrupted + "/" + directory,
                withIntermediateDirectories: true
            )
        }
        try #require(FileManager.default.createFile(atPath: interrupted + "/instance.json.tmp-1", contents: Data()))

        let reopened = try fixture.open()
        #expect(!FileManager.default.fileExists(atPath: interrupted))
        #expect(try await reopened.instances(tagged: [:]).map(\.id) == [kept.id])
        await fixture.tearDown(reopened)
    }

    @Test("A runner that kept running through a restart is still listed by dispatch-runner --list")
    func runnerSurvivesRestart() async throws {
        let runner = ProcessRunner.product("dispatch-runner").path
        try #require(FileManager.default.isExecutableFile(atPath: runner), "build dispatch-runner first")
        let fixture = try LoopbackFixture()
        let cloud = try fixture.open()
        let instance = try await fixture.create(cloud)
        let uuid = "zzzzz-dz642-000000000000007"
        let lock = try HeldRunnerLock(uuid: uuid, in: instance.lockDirectory, pid: getpid())
        await cloud.stop()

        let reopened = try fixture.open()
        let listed = try #require(try await reopened.instances(tagged: [:]).first)
        let result = try await fixture.run("sudo \(runner) --list", on: listed)
        lock.release()
        #expect(result.stdoutText.split(separator: "\n").contains(Substring(uuid)))
        await fixture.tearDown(reopened)
    }

    @Test("Destroy stops the SSH server, sends SIGTERM to runners holding locks, and removes the state")
    func destroy() async throws {
        let fixture = try LoopbackFixture()
        let cloud = try fixture.open()
        let instance = try await fixture.create(cloud)
        let kept = try await fixture.create(cloud)
        // A stand-in runner, started on the instance as runners are (the server resets signal dispositions).
        let started = try await fixture.run("sleep 600 >/dev/null 2>&1 </dev/null & echo $!", on: instance)
        let pid = try #require(Int32(started.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)))
        let lock = try HeldRunnerLock(uuid: "zzzzz-dz642-000000000000001", in: instance.lockDirectory, pid: pid)
        let port = try #require(instance.address.split(separator: ":").last.flatMap { Int($0) })

        try await instance.destroy()
        lock.release()

        // The stand-in is not this process's child: watch it end (bounded), as it has no other event.
        var alive = true
        for _ in 0..<500 where alive {
            alive = Self.isAlive(pid)
            if alive { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(!alive, "the runner holding a lock was not terminated")
        #expect(!FileManager.default.fileExists(atPath: instance.stateDirectory))
        #expect(!LoopbackPort.accepts(port))
        #expect(try await cloud.instances(tagged: [:]).map(\.id) == [kept.id])
        let again = await #expect(throws: CloudError.self) {
            try await instance.destroy()
        }
        #expect(again?.code == .notFound)
        let reopened = try fixture.open()
        #expect(try await reopened.instances(tagged: [:]).map(\.id) == [kept.id])
        await fixture.tearDown(cloud, reopened)
    }

    @Test("Tags are filtered on list and replaced by setTags")
    func tags() async throws {
        let fixture = try LoopbackFixture()
        let cloud = try fixture.open()
        let first = try await fixture.create(cloud, tags: ["Name": "first"])
        _ = try await fixture.create(cloud, tags: ["Name": "second"])
        #expect(try await cloud.instances(tagged: ["Name": "first"]).map(\.id) == [first.id])
        try await first.setTags(["Name": "renamed"])
        #expect(try await cloud.instances(tagged: ["Name": "first"]).isEmpty)
        #expect(try await cloud.instances(tagged: ["Name": "renamed"]).map(\.tags) == [["Name": "renamed"]])
        await fixture.tearDown(cloud)
    }

    @Test("A booting instance is listed without an address until its boot time is over")
    func bootTime() async throws {
        let directory = try TemporaryDirectory(prefix: "loopback-test")
        var parameters = LoopbackParameters()
        parameters.bootTime = .seconds(30)
        let clock = ManualClock()
        let cloud = try LoopbackCloud(
            parameters: parameters,
            dataDirectory: directory.path,
            clock: clock,
            logger: LoopbackFixture.logger
        )
        let type = InstanceType(name: InstanceTypeName(rawValue: "small"), vcpus: 1, ram: .giB(1), price: 0.01)
        let created = try await cloud.create(
            type: type,
            imageID: ImageID(rawValue: "loopback"),
            tags: [:],
            initCommand: "",
            publicKey: nil
        )
        #expect(created.address.isEmpty)
        clock.advance(by: .seconds(29))
        #expect(try await cloud.instances(tagged: [:]).map(\.address) == [""])
        clock.advance(by: .seconds(1))
        let booted = try await cloud.instances(tagged: [:]).map(\.address)
        #expect(booted.count == 1)
        #expect(booted.first?.hasPrefix("127.0.0.1:") == true)
        await cloud.stop()
        directory.remove()
    }

    /// Whether `pid` is a process that has not exited (zombies count as exited).
    static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(close, offsetBy: 2)...].prefix(1)
        return state != "Z" && state != "X"
    }
}
