import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOSSL
import LifeboatCore
import Logging
import NIOCore

/// The API's server shell on Hummingbird 2: converts each request to an `APIRequest`,
/// lets `MasakariAPI` answer, and converts back. Nothing else happens here.
public struct APIServer: Sendable {
    public struct Settings: Sendable, Equatable {
        public var address: String
        public var port: Int
        /// TLS: a PEM certificate chain and its private key (both or neither).
        public var certificateFile: String?
        public var keyFile: String?
        /// Largest request body accepted (413 beyond).
        public var maxBodyBytes: Int

        public init(address: String = "0.0.0.0", port: Int = 15868, certificateFile: String? = nil, keyFile: String? = nil, maxBodyBytes: Int = 1 << 20) {
            self.address = address
            self.port = port
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.maxBodyBytes = maxBodyBytes
        }

        public var scheme: String { certificateFile == nil ? "http" : "https" }
    }

    let settings: Settings
    let api: MasakariAPI

    public init(settings: Settings, api: MasakariAPI) {
        self.settings = settings
        self.api = api
    }

    /// Serves until the task is cancelled; throws when the socket cannot be bound or the
    /// TLS files cannot be read.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let api = self.api
        let limit = settings.maxBodyBytes
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            await Self.respond(request, api: api, limit: limit)
        }
        var logger = Logger(label: "lifeboat-api")
        logger.logLevel = .warning
        let server: HTTPServerBuilder
        if let cert = settings.certificateFile, let key = settings.keyFile {
            let chain = try NIOSSLCertificate.fromPEMFile(cert).map { NIOSSLCertificateSource.certificate($0) }
            let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            server = try .tls(.http1(), tlsConfiguration: tls)
        } else {
            server = .http1()
        }
        let app = Application(
            responder: responder, server: server,
            configuration: .init(address: .hostname(settings.address, port: settings.port), serverName: "lifeboat"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) }, logger: logger)
        try await app.run()
    }

    static func respond(_ request: Request, api: MasakariAPI, limit: Int) async -> Response {
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        if let authority = request.head.authority { headers["host"] = authority }  // HTTP/1's Host travels as :authority
        var body: [UInt8] = []
        do {
            let buffer = try await request.body.collect(upTo: limit)
            body = Array(buffer.readableBytesView)
        } catch {
            return make(APIFault(413, "The request body is larger than \(limit) bytes").response)
        }
        let target = request.uri.path + (request.uri.query.map { "?\($0)" } ?? "")
        return make(await api.handle(APIRequest(method: request.method.rawValue, target: target, headers: headers, body: body)))
    }

    static func make(_ r: APIResponse) -> Response {
        var fields = HTTPFields()
        for (name, value) in r.headers {
            if let n = HTTPField.Name(name) { fields.append(HTTPField(name: n, value: value)) }
        }
        return Response(status: HTTPResponse.Status(code: r.status), headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: r.body)))
    }
}
