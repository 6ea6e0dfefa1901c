import CloudDriverEC2
import DispatchModel
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// An EC2 endpoint on 127.0.0.1 whose answers the test chooses, per request: for error bodies moto cannot
/// produce (capacity, quota, throttling, authorization).
final class FakeEC2Server: Sendable {
    typealias Handler = @Sendable (_ parameters: [String: String]) -> (status: Int, body: String)

    private let handler: Mutex<Handler>
    private let recorded = Mutex<[[String: String]]>([])

    private init() {
        self.handler = Mutex({ _ in (200, FakeEC2Server.ok("EmptyResponse")) })
    }

    /// The form parameters of every request so far, oldest first.
    var requests: [[String: String]] { self.recorded.withLock { $0 } }

    /// The requests for `action`.
    func requests(_ action: String) -> [[String: String]] { self.requests.filter { $0["Action"] == action } }

    /// Makes `handler` answer every further request.
    func answer(_ handler: @escaping Handler) {
        self.handler.withLock { $0 = handler }
    }

    /// Starts a server, runs `body` with it and its endpoint URL, and stops it.
    static func with<T: Sendable>(_ body: (FakeEC2Server, String) async throws -> T) async throws -> T {
        let server = FakeEC2Server()
        let router = Router()
        router.post("/") { request, _ -> Response in
            var buffer = try await request.body.collect(upTo: 1 << 20)
            let form = FakeEC2Server.parseForm(buffer.readString(length: buffer.readableBytes) ?? "")
            server.recorded.withLock { $0.append(form) }
            let (status, text) = server.handler.withLock { $0 }(form)
            return Response(
                status: HTTPResponse.Status(code: status),
                headers: [.contentType: "text/xml;charset=UTF-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: text))
            )
        }
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "fake-ec2")
        logger.logLevel = .critical
        let application = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await application.run() }
            defer { group.cancelAll() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw FakeEC2Failure("the fake EC2 server did not start") }
            return try await body(server, "http://127.0.0.1:\(port)")
        }
    }

    /// A successful answer with root element `action`.
    static func ok(_ root: String, _ inner: String = "") -> String {
        #"<?xml version="1.0" encoding="UTF-8"?>"#
            + #"<\#(root) xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-1</requestId>"#
            + inner + "</\(root)>"
    }

    /// An error document as AWS documents it (`Response/Errors/Error`).
    static func error(_ code: String, _ message: String) -> String {
        #"<?xml version="1.0" encoding="UTF-8"?>"#
            + "<Response><Errors><Error><Code>\(code)</Code><Message>\(message)</Message></Error></Errors>"
            + "<RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>"
    }

    /// A `RunInstances` answer with one pending instance.
    static func runInstances(id: String, subnet: String = "", type: String = "m5.large") -> String {
        Self.ok(
            "RunInstancesResponse",
            "<reservationId>r-1</reservationId><instancesSet><item><instanceId>\(id)</instanceId>"
                + "<instanceState><code>0</code><name>pending</name></instanceState>"
                + "<privateIpAddress>10.0.0.5</privateIpAddress><instanceType>\(type)</instanceType>"
                + "<subnetId>\(subnet)</subnetId></item></instancesSet>"
        )
    }

    static func parseForm(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0)
            }
            result[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        return result
    }
}

struct FakeEC2Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A value that closures of several tasks read and write.
final class Locked<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>

    init(_ value: Value) { self.storage = Mutex(value) }

    var value: Value {
        get { self.storage.withLock { $0 } }
        set { self.storage.withLock { $0 = newValue } }
    }
}
