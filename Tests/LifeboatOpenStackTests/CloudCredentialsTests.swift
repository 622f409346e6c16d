import Foundation
import LifeboatCore
import Testing

@testable import LifeboatOpenStack

@Suite struct CloudCredentialsTests {
    static func yaml(_ text: String) -> String {
        let path = NSTemporaryDirectory() + "clouds-\(UUID().uuidString).yaml"
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        return path
    }

    static let clouds = """
        clouds:
          lab:
            auth:
              auth_url: http://10.0.0.2:5000/v3
              username: admin
              password: s3cret-pass
              project_name: admin
              user_domain_name: Default
              project_domain_name: Default
            region_name: RegionOne
            interface: internal
          app:
            auth_type: v3applicationcredential
            auth:
              auth_url: http://10.0.0.2:5000
              application_credential_id: abc123
              application_credential_secret: app-secret
          broken:
            auth:
              auth_url: http://10.0.0.2:5000/v3
              username: admin
        """

    @Test func test_passwordCloud_isRead_andItsDescriptionHidesTheSecret() throws {
        let c = try CloudCredentials.load(cloud: "lab", file: Self.yaml(Self.clouds), env: [:])
        #expect(c.authURL == "http://10.0.0.2:5000/v3" && c.region == "RegionOne" && c.interface == "internal")
        guard case .password(let u, let p, _, let project, _) = c.method else { Issue.record("not password"); return }
        #expect(u == "admin" && p == "s3cret-pass" && project == "admin")
        #expect(!c.description.contains("s3cret-pass") && c.description.contains("admin@Default"))
    }

    @Test func test_applicationCredential_isRead() throws {
        let c = try CloudCredentials.load(cloud: "app", file: Self.yaml(Self.clouds), env: [:])
        guard case .applicationCredential(let id, _, _, _, let secret) = c.method else { Issue.record("not an app credential"); return }
        #expect(id == "abc123" && secret == "app-secret" && !c.description.contains("app-secret"))
    }

    @Test func test_OS_CLOUD_andTheSearchPath() throws {
        let dir = NSTemporaryDirectory() + "home-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/.config/openstack", withIntermediateDirectories: true)
        FileManager.default.createFile(
            atPath: dir + "/.config/openstack/clouds.yaml", contents: Data(Self.clouds.utf8), attributes: [.posixPermissions: 0o640])
        let c = try CloudCredentials.load(env: ["OS_CLOUD": "lab", "HOME": dir])
        #expect(c.source.contains(".config/openstack/clouds.yaml"))
    }

    @Test func test_OSVariables() throws {
        let c = try CloudCredentials.load(env: [
            "OS_AUTH_URL": "http://k:5000/v3", "OS_USERNAME": "u", "OS_PASSWORD": "p", "OS_PROJECT_NAME": "pr", "OS_REGION_NAME": "R",
        ])
        #expect(c.source == "OS_* variables" && c.region == "R")
    }

    @Test(arguments: [
        ("broken", "password auth needs username, password and project_name"),
        ("missing", "cloud 'missing' is in none of"),
    ])
    func test_badCloud_isAClearError(_ name: String, _ message: String) {
        do {
            _ = try CloudCredentials.load(cloud: name, file: Self.yaml(Self.clouds), env: [:])
            Issue.record("accepted")
        } catch { #expect(error.description.contains(message), "\(error)") }
    }

    @Test func test_aWorldReadableCloudsYAMLWithASecret_isRefused_withoutSayingTheSecret() throws {
        let path = Self.yaml(Self.clouds)
        chmod(path, 0o644)
        for cloud in ["lab", "app"] {
            do {
                _ = try CloudCredentials.load(cloud: cloud, file: path, env: [:])
                Issue.record("accepted a world-readable clouds.yaml for \(cloud)")
            } catch {
                #expect(error.description.contains("readable by everyone (mode 644)") && error.description.contains("chmod o-r"), "\(error)")
                #expect(!error.description.contains("s3cret-pass") && !error.description.contains("app-secret"))
            }
        }
        // Group-readable is fine.
        chmod(path, 0o640)
        #expect(try CloudCredentials.load(cloud: "lab", file: path, env: [:]).authURL == "http://10.0.0.2:5000/v3")
    }

    @Test func test_noCredentialsAtAll_isAClearError() {
        #expect(throws: CloudCredentials.ConfigError.self) { try CloudCredentials.load(env: [:]) }
    }

    @Test func test_notYAML_isAClearError() {
        do {
            _ = try CloudCredentials.load(cloud: "lab", file: Self.yaml("clouds: [unclosed"), env: [:])
            Issue.record("accepted")
        } catch { #expect(error.description.contains("not valid YAML")) }
    }

    @Test func test_errorBodies_giveTheServicesMessage() {
        #expect(HTTPClient.message(Array(#"{"badRequest": {"message": "Invalid service", "code": 400}}"#.utf8)) == "Invalid service")
        #expect(HTTPClient.message(Array(#"{"error": {"message": "The request you have made requires authentication.", "code": 401}}"#.utf8))
            == "The request you have made requires authentication.")
        #expect(HTTPClient.message(Array("<html>oops</html>".utf8)) == "<html>oops</html>")
    }
}

/// `Codable` over the project's JSON stack (issue 9's models, issue 7's one JSON stack).
@Suite struct JSONValueCodableTests {
    struct Server: Codable, Equatable {
        var id: String
        var host: String?
        var metadata: [String: String]
        var flavor: Flavor
        var tags: [String]
        struct Flavor: Codable, Equatable { var vcpus: Int; var ram: Int }
        enum CodingKeys: String, CodingKey {
            case id, metadata, flavor, tags
            case host = "OS-EXT-SRV-ATTR:host"
        }
    }

    @Test func test_roundTrip_throughTheProjectsParserAndWriter() throws {
        let text = #"{"id":"a","OS-EXT-SRV-ATTR:host":null,"metadata":{"HA_Enabled":"True"},"flavor":{"vcpus":2,"ram":512},"tags":["x"],"extra":1}"#
        let s = try JSONValueDecoder().decode(Server.self, from: Array(text.utf8))
        #expect(s == Server(id: "a", host: nil, metadata: ["HA_Enabled": "True"], flavor: .init(vcpus: 2, ram: 512), tags: ["x"]))
        let back = try JSONValueEncoder().encode(s)
        #expect(try JSONValueDecoder().decode(Server.self, from: back) == s)
        #expect(JSONWriter.write(back, timeKeys: []).contains(#""OS-EXT-SRV-ATTR:host""#) == false)  // nil is left out
    }

    @Test func test_typeMismatch_namesThePath() {
        let text = #"{"id":"a","metadata":{},"flavor":{"vcpus":"two","ram":1},"tags":[]}"#
        do {
            _ = try JSONValueDecoder().decode(Server.self, from: Array(text.utf8))
            Issue.record("accepted")
        } catch let DecodingError.typeMismatch(_, ctx) {
            #expect(ctx.codingPath.map(\.stringValue) == ["flavor", "vcpus"])
        } catch { Issue.record("\(error)") }
    }
}
