import LifeboatCore
import Testing

@testable import LifeboatDaemon

/// lifeboatd's `openstack` section: how often Nova is read while evacuations are followed.
@Suite struct DaemonConfigurationTests {
    @Test func test_pollInterval_defaultsToHalfASecond_andIsRead() throws {
        let plain = try DaemonConfiguration.parse(#"{"openstack": {"cloud": "c"}}"#)
        #expect(plain.openstack?.pollInterval == 0.5)
        let set = try DaemonConfiguration.parse(#"{"openstack": {"cloud": "c", "poll_interval": 2}}"#)
        #expect(set.openstack?.pollInterval == 2)
    }

    @Test(arguments: ["0", "0.05", "61", "-1"])
    func test_pollInterval_outOfRange_isRefusedWithItsPath(_ value: String) {
        #expect(throws: ScenarioError("openstack.poll_interval", "must be from 0.1 to 60 seconds")) {
            try DaemonConfiguration.parse(#"{"openstack": {"cloud": "c", "poll_interval": \#(value)}}"#)
        }
    }

    @Test func test_pollInterval_notANumber_isRefused() {
        #expect(throws: ScenarioError.self) {
            try DaemonConfiguration.parse(#"{"openstack": {"cloud": "c", "poll_interval": "fast"}}"#)
        }
    }
}
