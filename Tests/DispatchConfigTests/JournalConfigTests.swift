import DispatchConfig
import Testing

@Suite("Journal and quarantine keys")
struct JournalConfigTests {
    @Test("Defaults: a week of journal, quarantine after 3 failed boots in an hour for 10 minutes")
    func defaults() throws {
        let config = try #require(loadValid(cluster("SystemRootToken: x"))).config
        #expect(config.dispatchCloud.journalRetention == .seconds(7 * 24 * 3600))
        #expect(config.dispatchCloud.bootQuarantine.failures == 3)
        #expect(config.dispatchCloud.bootQuarantine.window == .seconds(3600))
        #expect(config.dispatchCloud.bootQuarantine.cooldown == .seconds(600))
    }

    @Test("The keys are read")
    func read() throws {
        let config = try #require(
            loadValid(
                cluster(
                    """
                    DispatchCloud:
                      JournalRetention: 48h
                      BootQuarantine:
                        Failures: 5
                        Window: 30m
                        Cooldown: 2m
                        MaxCooldown: 1h
                    """
                )
            )
        ).config
        #expect(config.dispatchCloud.journalRetention == .seconds(48 * 3600))
        #expect(config.dispatchCloud.bootQuarantine.failures == 5)
        #expect(config.dispatchCloud.bootQuarantine.window == .seconds(1800))
        #expect(config.dispatchCloud.bootQuarantine.cooldown == .seconds(120))
        #expect(config.dispatchCloud.bootQuarantine.maxCooldown == .seconds(3600))
    }

    @Test("Bad values are errors naming the key")
    func invalid() throws {
        let retention = try #require(loadInvalid(cluster("DispatchCloud:\n  JournalRetention: 0s")))
        #expect(retention.diagnostics.map(\.keyPath) == ["Clusters.z1234.DispatchCloud.JournalRetention"])
        let negative = try #require(loadInvalid(cluster("DispatchCloud:\n  BootQuarantine:\n    Failures: -1")))
        #expect(negative.diagnostics.map(\.keyPath) == ["Clusters.z1234.DispatchCloud.BootQuarantine.Failures"])
        let shorter = try #require(
            loadInvalid(cluster("DispatchCloud:\n  BootQuarantine:\n    Cooldown: 2h\n    MaxCooldown: 1h"))
        )
        #expect(shorter.diagnostics.map(\.keyPath) == ["Clusters.z1234.DispatchCloud.BootQuarantine.MaxCooldown"])
    }
}
