import ArvadosAPI
import ContainerRunner
import DispatchModel
import DispatchTestSupport
import Foundation
import Synchronization
import Testing

/// A container's `cost` as `crunch-run` computes it: the instance price, or its history, integrated over the run.
@Suite("Container cost")
struct ContainerCostTests {
    static let t0 = Timestamp(secondsSince1970: 1_800_000_000)

    static func at(minutes: Int64) -> Timestamp {
        Timestamp(secondsSince1970: Self.t0.secondsSince1970 + minutes * 60)
    }

    @Test("Without a history the instance type's price holds: 0.36/h for 90 minutes is 0.54")
    func instancePriceOnly() {
        let meter = CostMeter(start: Self.t0, instancePrice: 0.36)
        #expect(abs(meter.cost(at: Self.at(minutes: 90)) - 0.54) < 1e-9)
        #expect(meter.cost(at: Self.t0) == 0)
    }

    @Test("A price change mid-run: each price holds from its StartTime, the earliest one before it")
    func priceChange() {
        var meter = CostMeter(start: Self.t0, instancePrice: 9.99)
        let new = meter.merge([
            PricePoint(startTime: Self.at(minutes: 30), price: 0.40),
            PricePoint(startTime: Self.at(minutes: -60), price: 0.10),
        ])
        #expect(new.map(\.price) == [0.10, 0.40])
        // 30 minutes at 0.10 and 30 at 0.40: the history replaces the type's price.
        #expect(abs(meter.cost(at: Self.at(minutes: 60)) - 0.25) < 0.005)
        #expect(abs(meter.cost(at: Self.at(minutes: 60)) - 0.25) < 1e-9)
        // A history that starts after the container: its earliest price is assumed before it.
        var late = CostMeter(start: Self.t0, instancePrice: 0)
        late.merge([
            PricePoint(startTime: Self.at(minutes: 15), price: 0.20),
            PricePoint(startTime: Self.at(minutes: 45), price: 0.60),
            PricePoint(startTime: Self.at(minutes: 600), price: 100),  // from the future: ignored
        ])
        #expect(abs(late.cost(at: Self.at(minutes: 60)) - 0.30) < 1e-9)
        // Merging the same history again adds nothing; duplicates and repeated prices collapse.
        #expect(meter.merge([PricePoint(startTime: Self.at(minutes: 30), price: 0.40)]).isEmpty)
        let normalized = CostMeter.normalize([
            PricePoint(startTime: Self.at(minutes: 0), price: 1), PricePoint(startTime: Self.at(minutes: 10), price: 1),
            PricePoint(startTime: Self.at(minutes: 20), price: 2),
        ])
        #expect(normalized.map(\.startTime) == [Self.at(minutes: 20), Self.at(minutes: 0)])
    }

    @Test("The supervisor stores the integral in the container's cost when the price changes during the run")
    func supervisorCostOnInjectedClock() async throws {
        let directory = try TemporaryDirectory(prefix: "runner-cost")
        defer { directory.remove() }
        let clock = Shared(Self.t0)
        let pricesFile = directory.file("crunch-run-prices.json")
        let go = directory.file("go")
        try await EmbeddedContainerAPI.with { api in
            let created = try await api.createContainer(
                command: ["sh", "-c", "while [ ! -e \(go) ]; do sleep 0.02; done"]
            )
            let locked = try await api.rootClient.lockContainer(created.uuid)
            let supervisor = ContainerSupervisor(
                uuid: locked.uuid,
                client: api.rootClient,
                engine: "process",
                workRoot: directory.file("work"),
                readyDescriptor: nil,
                container: locked,
                sandbox: SandboxSettings(mode: .none),
                costing: .init(
                    instanceType: #"{"ProviderType":"m5.large","Price":0.10}"#,
                    pricesFile: pricesFile,
                    updateInterval: .seconds(3600),
                    now: { clock.value.withLock { $0 } }
                )
            )
            let run = Task { await supervisor.run() }
            let running = try await eventually { () async throws -> Bool? in
                try await api.rootClient.container(locked.uuid).state == .running ? true : nil
            }
            try #require(running == true)
            // The dispatcher's `--list --stdin-prices` stores a history: 0.10 until 30 minutes in, then 0.40.
            let history =
                #"[{"StartTime":"\#(Self.at(minutes: 30).rfc3339)","Price":0.4},"#
                + #"{"StartTime":"\#(Self.at(minutes: -60).rfc3339)","Price":0.1}]"#
            #expect(CostMeter.storePrices(Array(history.utf8), inDirectory: directory.path))
            #expect(!CostMeter.storePrices(Array("not prices".utf8), inDirectory: directory.path))
            clock.value.withLock { $0 = Self.at(minutes: 60) }
            #expect(FileManager.default.createFile(atPath: go, contents: Data()))
            #expect(await run.value == 0)
            let finished = try await api.rootClient.container(locked.uuid)
            #expect(finished.state == .complete)
            // 0.5 h at 0.10 + 0.5 h at 0.40 = 0.25, to the cent.
            #expect(abs(finished.cost - 0.25) < 0.005, "cost \(finished.cost)")
            let log = try await eventually { () async throws -> String? in
                let text = try await RunnerProcessTests.logText(api, locked.uuid, "crunch-run")
                return text.contains("instance price changed to 0.4") ? text : nil
            }
            #expect(log != nil)
        }
    }
}

/// A lock-protected value closures can share.
final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ initial: Value) { self.value = Mutex(initial) }
}
