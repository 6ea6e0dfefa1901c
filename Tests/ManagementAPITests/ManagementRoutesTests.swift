import DispatchModel
import DispatchTestSupport
import Foundation
import ManagementAPI
import Testing

/// The eight `/arvados/v1/dispatch/*` routes, `/metrics`, `/_health/ping` and `/`, over HTTP on 127.0.0.1.
@Suite("Management routes")
struct ManagementRoutesTests {
    /// Every route that needs the token, with a method and parameters that would succeed.
    static let protectedRoutes: [(String, String)] = [
        ("GET", "arvados/v1/dispatch/containers"),
        ("GET", "arvados/v1/dispatch/container?container_uuid=zzzzz-dz642-queuedcontainer"),
        ("POST", "arvados/v1/dispatch/containers/kill?container_uuid=zzzzz-dz642-runningcontain1"),
        ("GET", "arvados/v1/dispatch/instances"),
        ("POST", "arvados/v1/dispatch/instances/hold?instance_id=i-00000002"),
        ("POST", "arvados/v1/dispatch/instances/drain?instance_id=i-00000002"),
        ("POST", "arvados/v1/dispatch/instances/run?instance_id=i-00000002"),
        ("POST", "arvados/v1/dispatch/instances/kill?instance_id=i-00000002"),
        ("GET", "metrics"),
        ("GET", "metrics.json"),
        ("GET", "_health/ping"),
    ]

    @Test("Every API route answers 401 without a token, 403 with a wrong one, and 200 with the right one")
    func authentication() async throws {
        try await ManagementFixture.with(metrics: MetricsRegistry(version: "test")) { server in
            for (method, path) in Self.protectedRoutes {
                let none = try await server.request(method, path, headers: [:])
                #expect(none.status == 401, "\(method) \(path) without a token")
                let wrong = try await server.request(method, path, headers: ["Authorization": "Bearer nope"])
                #expect(wrong.status == 403, "\(method) \(path) with a wrong token")
                let right = try await server.request(method, path)
                #expect(right.status == 200, "\(method) \(path) with the token: \(right.text)")
            }
        }
    }

    @Test("Without a ManagementToken every API route answers 403, and the dashboard page is still served")
    func notConfigured() async throws {
        try await ManagementFixture.with(token: "") { server in
            for (method, path) in Self.protectedRoutes {
                let response = try await server.request(method, path, headers: ["Authorization": "Bearer anything"])
                #expect(response.status == 403, "\(method) \(path)")
                #expect(response.text.contains("Management API authentication is not configured"))
            }
            let page = try await server.request("GET", "/", headers: [:])
            #expect(page.status == 200)
            #expect(page.headers["content-type"]?.hasPrefix("text/html") == true)
        }
    }

    @Test(
        "Tokens are read from a Bearer or OAuth2 header, a Basic password, the api_token parameter and the cookie",
        arguments: [
            ("arvados/v1/dispatch/instances", ["Authorization": "Bearer \(ManagementFixture.token)"]),
            ("arvados/v1/dispatch/instances", ["Authorization": "OAuth2 \(ManagementFixture.token)"]),
            (
                "arvados/v1/dispatch/instances",
                ["Authorization": "Basic " + Data("user:\(ManagementFixture.token)".utf8).base64EncodedString()]
            ),
            ("arvados/v1/dispatch/instances?api_token=\(ManagementFixture.token)", [:]),
            (
                "arvados/v1/dispatch/instances",
                [
                    "Cookie": "other=1; arvados_api_token="
                        + Data(ManagementFixture.token.utf8).base64EncodedString()
                        .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                ]
            ),
        ]
    )
    func tokenSources(path: String, headers: [String: String]) async throws {
        try await ManagementFixture.with { server in
            let response = try await server.request("GET", path, headers: headers)
            #expect(response.status == 200, "\(headers): \(response.text)")
        }
    }

    @Test(
        "A scheme name in other case, or an unknown scheme, offers no token: 401, as in Arvados",
        arguments: ["bearer \(ManagementFixture.token)", "Token \(ManagementFixture.token)", "Basic !!!"]
    )
    func schemeCase(authorization: String) async throws {
        try await ManagementFixture.with { server in
            let response = try await server.request(
                "GET",
                "arvados/v1/dispatch/instances",
                headers: ["Authorization": authorization]
            )
            #expect(response.status == 401, "\(authorization): \(response.text)")
        }
    }

    @Test("instances lists every instance with Arvados's field names, sorted by instance ID")
    func instances() async throws {
        let control = RecordingDispatcherControl.sample()
        var instances = await control.managedInstances
        instances.reverse()
        await control.set(instances: instances, queue: await control.managedQueue)
        try await ManagementFixture.with(control: control) { server in
            let response = try await server.request("GET", "arvados/v1/dispatch/instances")
            #expect(response.status == 200)
            #expect(response.headers["content-type"] == "application/json")
            let items = try #require(response.object?["items"] as? [[String: Any]])
            #expect(items.map { $0["instance"] as? String } == ["i-00000001", "i-00000002", "i-00000003"])
            let first = try #require(items.first)
            #expect(
                Set(first.keys) == [
                    "instance", "address", "price", "arvados_instance_type", "provider_instance_type",
                    "last_container_uuid", "last_busy", "running_container_uuids", "worker_state", "idle_behavior",
                    "first_seen_at",
                ]
            )
            #expect(first["arvados_instance_type"] as? String == "type1")
            #expect(first["provider_instance_type"] as? String == "providertype1")
            #expect(first["worker_state"] as? String == "running")
            #expect(first["idle_behavior"] as? String == "run")
            #expect(first["running_container_uuids"] as? [String] == ["zzzzz-dz642-runningcontain1"])
            #expect(items[1]["last_container_uuid"] as? String == "")
            #expect(Timestamp(rfc3339: first["last_busy"] as? String ?? "") != nil)

            let decoded = try await server.client.instances()
            #expect(decoded == (await control.managedInstances).sorted { $0.instance! < $1.instance! })
        }
    }

    @Test("instances and containers keep Arvados's {items} shape, and page with limit and offset when asked")
    func pagedListings() async throws {
        try await ManagementFixture.with { server in
            for path in ["arvados/v1/dispatch/instances", "arvados/v1/dispatch/containers"] {
                let whole = try await server.request("GET", path)
                #expect(whole.status == 200)
                let object = try #require(whole.object)
                // The default shape is Arvados's: nothing but the items.
                #expect(Set(object.keys) == ["items"], "\(path): \(whole.text)")
                let all = try #require(object["items"] as? [[String: Any]])
                #expect(all.count >= 2, "\(path): \(whole.text)")
                let count = all.count

                let page = try await server.request("GET", path + "?limit=1&offset=1")
                #expect(page.status == 200, "\(path): \(page.text)")
                let paged = try #require(page.object)
                let items = try #require(paged["items"] as? [[String: Any]])
                #expect(items.count == 1)
                #expect(
                    (try JSONSerialization.data(withJSONObject: items[0], options: .sortedKeys))
                        == (try JSONSerialization.data(withJSONObject: all[1], options: .sortedKeys)),
                    "\(path): the page is the second item of the whole list"
                )
                #expect(paged["items_available"] as? Int == count)
                #expect(paged["offset"] as? Int == 1)
                #expect(paged["limit"] as? Int == 1)

                // An offset alone gives the rest; one past the end gives nothing; a huge limit is clamped.
                let rest = try await server.request("GET", path + "?offset=1").object?["items"] as? [Any]
                #expect(rest?.count == count - 1)
                let none = try await server.request("GET", path + "?offset=\(count)&limit=5").object?["items"] as? [Any]
                #expect(none?.count == 0)
                let clamped = try await server.request("GET", path + "?offset=1&limit=\(Int.max)")
                #expect((clamped.object?["items"] as? [Any])?.count == count - 1, "\(clamped.text)")

                for (query, field) in [
                    ("limit=-1", "limit"), ("limit=many", "limit"), ("offset=1e3", "offset"),
                    ("offset=99999999999999999999999", "offset"),
                ] {
                    let bad = try await server.request("GET", path + "?" + query)
                    #expect(bad.status == 400, "\(path)?\(query): \(bad.text)")
                    let message = (bad.object?["errors"] as? [String])?.first ?? ""
                    #expect(message.hasPrefix(field + ":"), "\(path)?\(query): \(bad.text)")
                }
            }
        }
    }

    @Test("A pending create is listed first with an empty instance ID")
    func pendingCreate() async throws {
        let control = RecordingDispatcherControl.sample()
        var instances = await control.managedInstances
        instances.append(
            ManagedInstance(
                instance: nil,
                price: 0.1,
                arvadosInstanceType: "type1",
                providerInstanceType: "providertype1",
                lastBusy: .now(),
                workerState: .booting
            )
        )
        await control.set(instances: instances, queue: [])
        try await ManagementFixture.with(control: control) { server in
            let items = try #require(
                try await server.request("GET", "arvados/v1/dispatch/instances").object?["items"] as? [[String: Any]]
            )
            #expect(items.first?["instance"] as? String == "")
            #expect(try await server.client.instances().first?.instance == nil)
        }
    }

    @Test("containers lists the queue in the control's order with the QueueEnt fields; container shows one")
    func containers() async throws {
        try await ManagementFixture.with { server in
            let response = try await server.request("GET", "arvados/v1/dispatch/containers")
            let items = try #require(response.object?["items"] as? [[String: Any]])
            #expect(
                items.compactMap { ($0["container"] as? [String: Any])?["uuid"] as? String } == [
                    "zzzzz-dz642-runningcontain1", "zzzzz-dz642-lockedcontainer", "zzzzz-dz642-queuedcontainer",
                ]
            )
            let entry = try #require(items.last)
            #expect(
                Set(entry.keys) == [
                    "container", "instance_resources", "instance_types", "first_seen_at", "scheduling_status",
                    "preemptions",
                ]
            )
            let resources = try #require(entry["instance_resources"] as? [String: Any])
            #expect(Set(resources.keys) == ["VCPUs", "RAM", "Scratch", "GPUs", "GPUVRAM"])
            let type = try #require((entry["instance_types"] as? [[String: Any]])?.first)
            #expect(type["ProviderType"] as? String == "providertype1")
            #expect(type["Name"] == nil)
            #expect((entry["scheduling_status"] as? String)?.hasPrefix("Waiting in queue at position 1.") == true)
            let container = try #require(entry["container"] as? [String: Any])
            #expect(container["state"] as? String == "Queued")
            #expect((container["runtime_constraints"] as? [String: Any])?["vcpus"] as? Int == 1)

            let one = try await server.request(
                "GET",
                "arvados/v1/dispatch/container?container_uuid=zzzzz-dz642-lockedcontainer"
            )
            #expect(one.status == 200)
            #expect((one.object?["container"] as? [String: Any])?["state"] as? String == "Locked")

            let unknown = try await server.request(
                "GET",
                "arvados/v1/dispatch/container?container_uuid=zzzzz-dz642-unknowncontainer"
            )
            #expect(unknown.status == 404)
            #expect(unknown.object?["errors"] as? [String] == ["container not found"])
            let missing = try await server.request("GET", "arvados/v1/dispatch/container")
            #expect(missing.status == 400)
            #expect(missing.object?["errors"] as? [String] == ["container_uuid parameter not provided"])

            let decoded = try await server.client.containers()
            let queue = await server.control.managedQueue
            #expect(decoded.map(\.container.uuid) == queue.map(\.container.uuid))
            #expect(decoded.map(\.schedulingStatus) == queue.map(\.schedulingStatus))
            #expect(decoded.map(\.instanceResources) == queue.map(\.instanceResources))
        }
    }

    @Test(
        "hold, drain and run set the idle behaviour of the instance",
        arguments: IdleBehavior.allCases
    )
    func idleBehavior(behavior: IdleBehavior) async throws {
        try await ManagementFixture.with { server in
            let response = try await server.request(
                "POST",
                "arvados/v1/dispatch/instances/\(behavior.rawValue)?instance_id=i-00000002"
            )
            #expect(response.status == 200)
            #expect(response.body.isEmpty)
            #expect(await server.control.calls == [.setIdleBehavior("i-00000002", behavior)])
            let instance = await server.control.managedInstances.first { $0.instance == "i-00000002" }
            #expect(instance?.idleBehavior == behavior)
        }
    }

    @Test("Instance actions answer 400 without instance_id and 404 with an unknown one, as JSON errors")
    func instanceErrors() async throws {
        try await ManagementFixture.with { server in
            for action in ["hold", "drain", "run", "kill"] {
                let missing = try await server.request("POST", "arvados/v1/dispatch/instances/\(action)")
                #expect(missing.status == 400, "\(action)")
                #expect(missing.headers["content-type"] == "application/json")
                #expect(missing.object?["errors"] as? [String] == ["instance_id parameter not provided"])
                let unknown = try await server.request(
                    "POST",
                    "arvados/v1/dispatch/instances/\(action)?instance_id=i-nope"
                )
                #expect(unknown.status == 404, "\(action)")
                #expect(unknown.object?["errors"] as? [String] == ["instance not found"])
            }
            let wrongMethod = try await server.request(
                "GET",
                "arvados/v1/dispatch/instances/hold?instance_id=i-00000002"
            )
            #expect(wrongMethod.status != 200)
            #expect(await server.control.managedInstances.allSatisfy { $0.idleBehavior == .run })
        }
    }

    @Test("kill passes the reason prefixed with \"via management API: \", from the query or a form body")
    func kill() async throws {
        try await ManagementFixture.with { server in
            let instance = try await server.request(
                "POST",
                "arvados/v1/dispatch/instances/kill?instance_id=i-00000002&reason=broken+disk"
            )
            #expect(instance.status == 200)
            let container = try await server.request(
                "POST",
                "arvados/v1/dispatch/containers/kill",
                form: "container_uuid=zzzzz-dz642-runningcontain1&reason=stuck%20job"
            )
            #expect(container.status == 200, "\(container.text)")
            #expect(
                await server.control.calls == [
                    .killInstance("i-00000002", reason: "via management API: broken disk"),
                    .killContainer("zzzzz-dz642-runningcontain1", reason: "via management API: stuck job"),
                ]
            )
            let notRunning = try await server.request(
                "POST",
                "arvados/v1/dispatch/containers/kill?container_uuid=zzzzz-dz642-queuedcontainer"
            )
            #expect(notRunning.status == 404)
            #expect(notRunning.object?["errors"] as? [String] == ["container not found"])
            let missing = try await server.request("POST", "arvados/v1/dispatch/containers/kill")
            #expect(missing.status == 400)
            #expect(missing.object?["errors"] as? [String] == ["container_uuid parameter not provided"])
        }
    }

    @Test("The health check answers OK, or ERROR with the control's message; it needs the token as a header")
    func health() async throws {
        try await ManagementFixture.with { server in
            let ok = try await server.request("GET", "_health/ping")
            #expect(ok.status == 200)
            #expect(ok.text == "{\"health\":\"OK\"}\n")
            await server.control.setHealthError("runner binary missing")
            let failing = try await server.request("GET", "_health/ping")
            #expect(failing.status == 200)
            #expect(failing.object?["health"] as? String == "ERROR")
            #expect(failing.object?["error"] as? String == "runner binary missing")
            let byQuery = try await server.request(
                "GET",
                "_health/ping?api_token=\(ManagementFixture.token)",
                headers: [:]
            )
            #expect(byQuery.status == 401)
            let other = try await server.request("GET", "_health/other")
            #expect(other.status == 404)
        }
    }

    @Test("The dashboard page needs no token and references nothing outside this server")
    func dashboardPage() async throws {
        try await ManagementFixture.with { server in
            let page = try await server.request("GET", "/", headers: [:])
            #expect(page.status == 200)
            #expect(page.headers["content-type"] == "text/html; charset=utf-8")
            #expect(page.headers["content-security-policy"]?.contains("connect-src 'self'") == true)
            let html = page.text
            #expect(html.contains("<table id=\"instances\""))
            #expect(html.contains("<table id=\"queue\""))
            // The only absolute URL is the SVG namespace name, which is never fetched.
            let urls = html.components(separatedBy: "http").dropFirst().map { "http" + $0.prefix(30) }
            #expect(urls.allSatisfy { $0.hasPrefix("http://www.w3.org/2000/svg") }, "\(urls)")
            #expect(!html.contains("src=\""))
        }
    }
}

extension ManagementRoutesTests {
    @Test("GET costs: the days with their overhead, or 404 where nothing is accounted")
    func costs() async throws {
        let control = RecordingDispatcherControl.sample()
        try await ManagementFixture.with(control: control) { server in
            let none = try await server.request("GET", "arvados/v1/dispatch/costs")
            #expect(none.status == 404)
            #expect(none.object?["errors"] as? [String] == ["this dispatcher keeps no cost records"])
            await control.set(
                costs: CostSummary(
                    days: [.init(day: "2026-12-03", cost: 2, overhead: 0.5)],
                    total: 2,
                    overhead: 0.5,
                    overheadShare: 0.25
                )
            )
            let some = try await server.request("GET", "arvados/v1/dispatch/costs")
            #expect(some.status == 200)
            #expect(some.object?["overhead_share"] as? Double == 0.25)
            let days = try #require(some.object?["days"] as? [[String: Any]])
            #expect(days.first?["day"] as? String == "2026-12-03")
        }
    }
}
