/// The `# HELP` text of every metric the dispatcher exposes: Arvados's own strings for Arvados's metrics
/// (`lib/dispatchcloud`, `lib/cloud/ec2`, `lib/config`, `lib/service`), ours for the rest.
///
/// swift-metrics carries no help text, so the exposition looks each family up here by name; a test scrapes
/// `/metrics` and fails on any family without one.
public enum MetricHelp: Sendable {
    public static let texts: [String: String] = [
        // Worker pool (lib/dispatchcloud/worker/pool.go).
        "arvados_dispatchcloud_containers_running": "Number of containers reported running by cloud VMs.",
        "arvados_dispatchcloud_probe_age_seconds_max":
            "Maximum number of seconds since an instance's most recent successful probe.",
        "arvados_dispatchcloud_probe_age_seconds_median":
            "Median number of seconds since an instance's most recent successful probe.",
        "arvados_dispatchcloud_probe_round_duration_seconds":
            "Number of seconds the last probe round over every worker took (DispatchCloud's own).",
        "arvados_dispatchcloud_instances_total": "Number of cloud VMs.",
        "arvados_dispatchcloud_instances_price": "Price of cloud VMs.",
        "arvados_dispatchcloud_vcpus_total": "Total VCPUs on all cloud VMs.",
        "arvados_dispatchcloud_memory_bytes_total": "Total memory on all cloud VMs.",
        "arvados_dispatchcloud_boot_outcomes": "Boot outcomes by type.",
        "arvados_dispatchcloud_instances_disappeared":
            "Number of occurrences of an instance disappearing from the cloud provider's list of instances.",
        "arvados_dispatchcloud_instances_time_to_ssh_seconds":
            "Number of seconds between instance creation and the first successful SSH connection.",
        "arvados_dispatchcloud_instances_time_to_ready_for_container_seconds":
            "Number of seconds between the first successful SSH connection and ready to run a container.",
        "arvados_dispatchcloud_instances_time_from_shutdown_request_to_disappearance_seconds":
            "Number of seconds between the first shutdown attempt and the disappearance of the worker.",
        "arvados_dispatchcloud_containers_time_from_queue_to_crunch_run_seconds":
            "Number of seconds between the queuing of a container and the start of crunch-run.",
        "arvados_dispatchcloud_instances_run_probe_duration_seconds": "Number of seconds per runProbe call.",
        // This dispatcher's boot-failure quarantine.
        "arvados_dispatchcloud_boot_quarantines_total":
            "Number of times an (instance type, image) pair was quarantined after failed boots.",
        "arvados_dispatchcloud_instance_types_quarantined":
            "Number of instance types whose creates are held by a boot-failure quarantine.",
        // Scheduler (lib/dispatchcloud/scheduler/scheduler.go).
        "arvados_dispatchcloud_containers_allocated_not_started":
            "Number of containers allocated to a worker but not started yet (worker is booting).",
        "arvados_dispatchcloud_containers_not_allocated_over_quota":
            "Number of containers not allocated to a worker because the system has hit a quota.",
        "arvados_dispatchcloud_containers_longest_wait_time_seconds":
            "Current longest wait time of any container since queuing, and before the start of crunch-run.",
        "arvados_dispatchcloud_last_503_time": "Time of most recent 503 error received from API.",
        "arvados_dispatchcloud_max_concurrent_containers":
            "Dynamically assigned limit on number of containers scheduled concurrency, set after receiving 503 errors from API.",
        "arvados_dispatchcloud_at_quota": "Flag indicating the cloud driver is reporting an at-quota condition.",
        "arvados_dispatchcloud_at_max_instances":
            "Flag indicating the configured MaxInstances is reached (the dispatcher's own limit, not the cloud's quota).",
        "arvados_dispatchcloud_hourly_spend":
            "Summed hourly price of all instances and pending creates (spot types at their current price).",
        "arvados_dispatchcloud_max_hourly_spend": "Configured DispatchCloud.MaxHourlySpend (0: no cap).",
        "arvados_dispatchcloud_containers_waiting_on_spend_cap":
            "Number of containers waiting for a new instance because of a spend cap.",
        "arvados_dispatchcloud_preemptions_total":
            "Number of containers whose instance vanished under them (spot preemption), by instance type.",
        "arvados_dispatchcloud_spend_in_window": "Money spent by instances in the last 24 hours (MaxSpendPerDay).",
        "arvados_dispatchcloud_max_spend_per_day": "Configured DispatchCloud.MaxSpendPerDay (0: no cap).",
        // Queue (lib/dispatchcloud/container/queue.go).
        "arvados_dispatchcloud_queue_entries": "Number of active container entries in the controller database.",
        // Cloud driver (lib/dispatchcloud/driver.go, lib/cloud/ec2/ec2.go).
        "arvados_dispatchcloud_driver_operations":
            "Number of instance-create/destroy/list operations performed via cloud driver.",
        "arvados_dispatchcloud_ec2_instances": "Number of instances running",
        "arvados_dispatchcloud_ec2_instance_starts_total": "Number of attempts to start a new instance",
        // Service (lib/service/cmd.go, lib/config/load.go).
        "arvados_version_running": "Indicated version is running.",
        "arvados_config_load_timestamp_seconds": "Time when config file was loaded.",
        "arvados_config_source_timestamp_seconds": "Timestamp of config file when it was loaded.",
        // DispatchCloud's own.
        "arvados_tls_certificate_expiry_seconds": "Unix time when the served TLS certificate expires.",
        "arvados_dispatchcloud_api_client_concurrency_limit":
            "Current limit on concurrent requests from the dispatcher to the API (halved on 503, grown when quiet).",
        "arvados_dispatchcloud_api_client_requests_in_flight":
            "Number of requests from the dispatcher to the API in flight.",
        "arvados_dispatchcloud_api_client_retries_total":
            "Number of API requests the dispatcher's client retried after a 502, 503 or 504 answer.",
    ]
}
