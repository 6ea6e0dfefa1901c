import CloudDriver
import CloudDriverEC2
import CloudDriverLoopback
import Testing

/// The pool asks instances for their price history only when their type says they may have one: EC2's do, through
/// every decorator the dispatcher wraps them in; drivers without spot pricing do not.
@Suite("Price history reporting")
struct PriceHistoryReportingTests {
    typealias Decorated<Base: CloudInstance> = RateLimitedInstance<InstrumentedInstance<Base>, ContinuousClock>

    @Test("EC2 instances report price histories, decorated or not")
    func ec2Reports() {
        #expect(EC2Instance<ContinuousClock>.reportsPriceHistory)
        #expect(InstrumentedInstance<EC2Instance<ContinuousClock>>.reportsPriceHistory)
        #expect(Decorated<EC2Instance<ContinuousClock>>.reportsPriceHistory)
    }

    @Test("Instances of drivers without spot pricing do not, decorated or not")
    func othersDoNot() {
        #expect(!LoopbackInstance<ContinuousClock>.reportsPriceHistory)
        #expect(!Decorated<LoopbackInstance<ContinuousClock>>.reportsPriceHistory)
    }
}
