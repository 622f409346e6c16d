import Foundation

/// The cloud as lifeboatd uses it: credentials are read on first use (and again after a
/// failure), so a clouds.yaml that appears or is fixed later is picked up without a
/// restart; a bad one is an error in `status` and the log, not a dead daemon.
public actor CloudConnection {
    public let cloud: String?
    public let file: String?
    var client: NovaClient? = nil

    public init(cloud: String?, file: String?) {
        self.cloud = cloud
        self.file = file
    }

    public func nova() throws(OpenStackError) -> NovaClient {
        if let client { return client }
        do {
            let creds = try CloudCredentials.load(cloud: cloud, file: file)
            let c = NovaClient(keystone: KeystoneSession(creds))
            client = c
            return c
        } catch {
            throw OpenStackError(call: "openstack: credentials", status: nil, message: error.description)
        }
    }
}
