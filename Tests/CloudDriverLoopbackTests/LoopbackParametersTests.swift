import CloudDriver
import CloudDriverLoopback
import DispatchModel
import Testing

@Suite("Loopback parameters")
struct LoopbackParametersTests {
    @Test("Missing keys take the documented defaults")
    func defaults() throws {
        for json in [JSONValue.null, .object([:])] {
            let parameters = try LoopbackParameters(json)
            #expect(parameters.maxInstances == 4)
            #expect(parameters.bootTime == .zero)
            #expect(parameters.dataDirectory == nil)
            #expect(
                try parameters.resolvedDataDirectory(dispatchDataDirectory: "/var/lib/dc") == "/var/lib/dc/loopback"
            )
        }
    }

    @Test(
        "Valid values are read",
        arguments: [
            (JSONValue.object(["MaxInstances": .int(9)]), 9, Duration.zero, String?.none),
            (.object(["BootTime": .string("1m30s")]), 4, .seconds(90), nil),
            (.object(["BootTime": .int(2)]), 4, .seconds(2), nil),
            (.object(["DataDirectory": .string("/srv/loop")]), 4, .zero, "/srv/loop"),
        ]
    )
    func valid(json: JSONValue, maxInstances: Int, bootTime: Duration, directory: String?) throws {
        let parameters = try LoopbackParameters(json)
        #expect(parameters.maxInstances == maxInstances)
        #expect(parameters.bootTime == bootTime)
        #expect(parameters.dataDirectory == directory)
    }

    @Test(
        "Invalid values name the key at fault",
        arguments: [
            (JSONValue.object(["MaxInstances": .int(0)]), "MaxInstances"),
            (.object(["MaxInstances": .string("4")]), "MaxInstances"),
            (.object(["BootTime": .string("soon")]), "BootTime"),
            (.object(["DataDirectory": .string("relative/path")]), "DataDirectory"),
            (.object(["MaxInstanses": .int(3)]), "MaxInstanses"),
            (.array([]), "DriverParameters"),
        ]
    )
    func invalid(json: JSONValue, key: String) {
        let error = #expect(throws: DriverConfigurationError.self) {
            _ = try LoopbackParameters(json)
        }
        #expect(error?.key == key)
    }

    @Test("Without any data directory configured the driver refuses to start")
    func noDataDirectory() {
        #expect(throws: DriverConfigurationError.self) {
            _ = try LoopbackParameters().resolvedDataDirectory(dispatchDataDirectory: "")
        }
    }
}
