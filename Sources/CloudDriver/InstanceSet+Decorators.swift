public import Logging
public import Metrics

/// The full decorator stack Arvados puts around a driver (reference §1.4), outermost first: tag filter,
/// default tags, rate limit, instrumentation.
public typealias DecoratedInstanceSet<Base: InstanceSet, C: Clock> = FilteringInstanceSet<
    DefaultTaggingInstanceSet<RateLimitedInstanceSet<InstrumentedInstanceSet<Base>, C>>
> where C.Duration == Duration

extension InstanceSet {
    /// Wraps the set in the decorator stack: counted, rate limited (when `maxCloudOpsPerSecond` > 0), given
    /// `resourceTags` on create, and filtered by tag on list.
    public func decorated<C: Clock>(
        maxCloudOpsPerSecond: Int,
        resourceTags: InstanceTags,
        clock: C,
        metricsFactory: (any MetricsFactory)? = nil,
        logger: Logger
    ) -> DecoratedInstanceSet<Self, C> {
        let instrumented = InstrumentedInstanceSet(self, metricsFactory: metricsFactory)
        let limited = RateLimitedInstanceSet(instrumented, maxOperationsPerSecond: maxCloudOpsPerSecond, clock: clock)
        let tagged = DefaultTaggingInstanceSet(limited, defaultTags: resourceTags)
        return FilteringInstanceSet(tagged, logger: logger)
    }
}
