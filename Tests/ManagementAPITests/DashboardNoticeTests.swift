import DispatchTestSupport
import Foundation
import Hummingbird
import NIOCore
import TLSSupport
import Testing

@testable import ManagementAPI

@Suite struct DashboardNoticeTests {
    typealias Server = ManagementServer<RecordingDispatcherControl>

    @Test("the dashboard warns within 14 days of the certificate's expiry, and after it")
    func expiryNotice() throws {
        let now = Date()
        let generated = try PrivateCA.generate(hosts: ["localhost"], now: now, serverValidity: 10 * 86400)
        let identity = try ServerIdentity(certificate: generated.serverCertificatePEM, key: generated.serverKeyPEM)
        #expect(Server.expiryNotice(identity, now: now.addingTimeInterval(-30 * 86400)) == nil)
        let soon = try #require(Server.expiryNotice(identity, now: now.addingTimeInterval(3600)))
        #expect(soon.hasPrefix("The TLS certificate expires in 9 days ("), "\(soon)")
        let late = try #require(Server.expiryNotice(identity, now: now.addingTimeInterval(11 * 86400)))
        #expect(late.hasPrefix("The TLS certificate expired at "), "\(late)")
    }

    @Test("the notice is a banner at the top of the page, escaped")
    func banner() async throws {
        let plain = try await Self.body(DashboardPage.response())
        #expect(!plain.contains("id=\"notice\""))
        let warned = try await Self.body(DashboardPage.response(notice: "expires <soon> & then"))
        #expect(warned.contains("<body>\n<p id=\"notice\" role=\"alert\""))
        #expect(warned.contains(">expires &lt;soon&gt; &amp; then</p>"))
    }

    static func body(_ response: Response) async throws -> String {
        var collected = ByteBuffer()
        let writer = CollectingWriter()
        _ = try await response.body.write(writer)
        collected = await writer.buffer
        return String(buffer: collected)
    }
}

actor CollectingWriter: ResponseBodyWriter {
    var buffer = ByteBuffer()
    func write(_ buffer: ByteBuffer) async throws { self.buffer.writeImmutableBuffer(buffer) }
    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
