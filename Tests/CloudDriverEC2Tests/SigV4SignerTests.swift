import Testing

@testable import CloudDriverEC2

@Suite("SigV4 signing")
struct SigV4SignerTests {
    @Test("Signing reproduces the AWS documentation example (IAM ListUsers, 2015-08-30)")
    func documentationExample() {
        let signer = SigV4Signer(
            credentials: AWSCredentials(
                accessKeyID: "AKIDEXAMPLE",
                secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
            ),
            region: "us-east-1",
            service: "iam"
        )
        let headers = signer.sign(
            method: "GET",
            path: "/",
            query: "Action=ListUsers&Version=2010-05-08",
            headers: [
                "Host": "iam.amazonaws.com",
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            ],
            body: [],
            secondsSince1970: 1_440_938_160  // 2015-08-30T12:36:00Z
        )
        #expect(headers["X-Amz-Date"] == "20150830T123600Z")
        #expect(
            headers["Authorization"]
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
                + "SignedHeaders=content-type;host;x-amz-date, "
                + "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        )
        #expect(headers["X-Amz-Security-Token"] == nil)
    }

    @Test("A session token is sent and signed")
    func sessionToken() {
        let signer = SigV4Signer(
            credentials: AWSCredentials(accessKeyID: "ASIAEXAMPLE", secretAccessKey: "secret", sessionToken: "tok"),
            region: "eu-west-1",
            service: "ec2"
        )
        let headers = signer.sign(
            method: "POST",
            path: "/",
            query: "",
            headers: ["Host": "ec2.eu-west-1.amazonaws.com"],
            body: Array("Action=DescribeInstances".utf8),
            secondsSince1970: 0
        )
        #expect(headers["X-Amz-Security-Token"] == "tok")
        #expect(headers["Authorization"]?.contains("SignedHeaders=host;x-amz-date;x-amz-security-token,") == true)
    }

    @Test(
        "Form bodies are percent-encoded with spaces as plus signs",
        arguments: [
            ([("Action", "RunInstances")], "Action=RunInstances"),
            ([("Tag.1.Value", "a b/c+d=e&f~g")], "Tag.1.Value=a+b%2Fc%2Bd%3De%26f~g"),
            ([("K", "é")], "K=%C3%A9"),
        ]
    )
    func formBody(parameters: [(String, String)], expected: String) {
        #expect(SigV4Signer.formBody(parameters) == expected)
    }

    @Test("Credentials print without their secret")
    func redaction() {
        let credentials = AWSCredentials(
            accessKeyID: "AKID",
            secretAccessKey: "very-secret",
            sessionToken: "tok-secret"
        )
        #expect(!"\(credentials)".contains("very-secret"))
        #expect(!"\(credentials)".contains("tok-secret"))
        #expect("\(credentials)".contains("AKID"))
    }
}
