import Crypto
import DispatchModel
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Signs requests with AWS Signature Version 4 (`AWS4-HMAC-SHA256`).
struct SigV4Signer: Sendable {
    var credentials: AWSCredentials
    var region: String
    var service: String

    /// Returns `headers` plus `X-Amz-Date`, `X-Amz-Security-Token` (for temporary credentials) and
    /// `Authorization`.
    ///
    /// `headers` must hold `Host` exactly as sent (with `:port` when it is not the scheme's default);
    /// `query` is the already-encoded query string (empty for a POST of a form).
    func sign(
        method: String,
        path: String,
        query: String,
        headers: [String: String],
        body: [UInt8],
        secondsSince1970: Int64
    ) -> [String: String] {
        let (amzDate, day) = Self.timestamps(secondsSince1970)
        var signed = headers
        signed["X-Amz-Date"] = amzDate
        if let token = self.credentials.sessionToken { signed["X-Amz-Security-Token"] = token }

        let canonicalHeaders: [(name: String, value: String)] = signed.map { name, value in
            (name.lowercased(), value.trimmingHTTPWhitespace())
        }.sorted { $0.name < $1.name }
        let signedHeaders: String = canonicalHeaders.map(\.name).joined(separator: ";")
        let headerBlock: String = canonicalHeaders.map { "\($0.name):\($0.value)\n" }.joined()
        let canonicalRequest: String = [
            method,
            path.isEmpty ? "/" : path,
            Self.canonicalQuery(query),
            headerBlock,
            signedHeaders,
            SHA256.hash(data: body).lowercaseHex,
        ].joined(separator: "\n")

        let scope = "\(day)/\(self.region)/\(self.service)/aws4_request"
        let stringToSign =
            "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n" + SHA256.hash(data: Array(canonicalRequest.utf8)).lowercaseHex
        var key = SymmetricKey(data: Array("AWS4\(self.credentials.secretAccessKey)".utf8))
        for part in [day, self.region, self.service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        let signature = HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key).lowercaseHex
        signed["Authorization"] =
            "AWS4-HMAC-SHA256 Credential=\(self.credentials.accessKeyID)/\(scope), "
            + "SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return signed
    }

    /// The query's parameters sorted by name, then value.
    private static func canonicalQuery(_ query: String) -> String {
        var pairs: [(String, String)] = []
        for item in query.split(separator: "&") {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            pairs.append((parts[0], parts.count > 1 ? parts[1] : ""))
        }
        pairs.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        return pairs.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// `(YYYYMMDD'T'HHMMSS'Z', YYYYMMDD)` in UTC.
    static func timestamps(_ secondsSince1970: Int64) -> (String, String) {
        var time = time_t(secondsSince1970)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let day = pad(parts.tm_year + 1900, 4) + pad(parts.tm_mon + 1, 2) + pad(parts.tm_mday, 2)
        return (day + "T" + pad(parts.tm_hour, 2) + pad(parts.tm_min, 2) + pad(parts.tm_sec, 2) + "Z", day)
    }

    /// RFC 3986 percent-encoding: only `A–Z a–z 0–9 - _ . ~` stay as they are.
    static func percentEncode(_ text: String) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0x0f)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A form body as Python's `urlencode` writes it (space as `+`): AWS accepts it, and moto verifies
    /// signatures against that form only.
    static func formBody(_ parameters: [(String, String)]) -> String {
        func encode(_ text: String) -> String {
            Self.percentEncode(text).replacingOccurrences(of: "%20", with: "+")
        }
        return parameters.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
    }
}
