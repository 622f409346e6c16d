import Foundation
import LifeboatAPI
import LifeboatCore
import LifeboatOpenStack
import LifeboatReplication
import LifeboatSystem

/// The daemon as the HTTP API's backend: reads answer from this node's replicated state
/// (serialized with its inputs, so a write's answer shows the write); writes go through
/// `submit`, the replicated log, on any node: never applied locally out of order.
extension Daemon: APIBackend {
    public func state() async -> ClusterState? { replica?.state }

    public func computeExists(_ host: String) async -> Result<Bool, APIFault>? {
        guard let cloud else { return nil }
        do throws(OpenStackError) {
            let services = try await cloud.nova().computeServices(host: host)
            return .success(services.contains { $0.host == host })
        } catch {
            return .failure(APIFault(503, "cannot ask Nova whether \(host) is a compute host: \(error)", headers: [("Retry-After", "5")]))
        }
    }

    public func status() async -> JSONValue {
        await fullStatus()
    }

    public func historyRequest(_ request: JSONValue) async -> JSONValue {
        guard case .string(let cmd) = request["cmd"] ?? .null, ["history", "incidents", "incident", "report"].contains(cmd) else {
            return ControlServer.error("not a history request")
        }
        return await handleRequest(request)
    }

    public func metrics() async -> String { metricsText() }

    /// Starts the API when configured; its failure to start is logged, never fatal to the
    /// cluster work of this node.
    public nonisolated func startAPI(_ settings: DaemonConfiguration.APISettings) {
        let validator: (any TokenValidator)?
        if settings.auth == "noauth" {
            Log.warning("API: auth is 'noauth': EVERY caller of http://\(settings.listen):\(settings.port) is treated as an admin (use only on a closed lab network)")
            validator = nil
        } else {
            validator = KeystoneValidator(cloud: settings.cloud, file: settings.cloudsYAML)
        }
        let api = MasakariAPI(backend: self, auth: validator)
        let server = APIServer(
            settings: .init(address: settings.listen, port: settings.port, certificateFile: settings.tlsCertificate, keyFile: settings.tlsKey),
            api: api)
        let scheme = settings.tlsCertificate == nil ? "http" : "https"
        Task.detached {
            do {
                try await server.run { port in Log.info("API: serving Masakari v1 and /lifeboat/v1 on \(scheme)://\(settings.listen):\(port)") }
            } catch {
                Log.error("API: stopped: \(error)")
            }
        }
    }
}
