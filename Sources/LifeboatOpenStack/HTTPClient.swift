import Foundation
import LifeboatCore
import Synchronization

#if canImport(FoundationNetworking)
    @preconcurrency import FoundationNetworking
#endif

/// An OpenStack call that did not succeed: which call, the HTTP status (nil when no answer
/// came), the service's own message, and the request id to look up in its logs. Never a
/// token or a password.
public struct OpenStackError: Error, CustomStringConvertible, Sendable, Equatable {
    public var call: String
    public var status: Int?
    public var message: String
    public var requestID: String?

    public init(call: String, status: Int?, message: String, requestID: String? = nil) {
        self.call = call
        self.status = status
        self.message = message
        self.requestID = requestID
    }

    /// No answer at all (connection refused, timeout): the service is down or unreachable.
    public var unreachable: Bool { status == nil }

    public var description: String {
        let s = status.map { "HTTP \($0)" } ?? "no answer"
        return "\(call): \(s): \(message)\(requestID.map { " (request \($0))" } ?? "")"
    }
}

/// HTTP for the OpenStack clients: Foundation's URLSession (libcurl on Linux), JSON bodies
/// through the project's JSON stack, a timeout per request, and bounded retries with backoff
/// on connection errors and 5xx answers.
public struct HTTPClient: Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: [UInt8]

        public var requestID: String? {
            headers["x-openstack-request-id"] ?? headers["x-compute-request-id"]
        }

        public func header(_ name: String) -> String? { headers[name.lowercased()] }
    }

    public var timeout: Double
    /// Tries for a request that gets no answer or a 5xx (at least 1).
    public var attempts: Int
    public var backoff: Double
    let session: URLSession

    public init(timeout: Double = 30, attempts: Int = 3, backoff: Double = 0.3) {
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout
        config.timeoutIntervalForResource = timeout * Double(max(1, attempts)) + 5
        config.connectionProxyDictionary = [:]
        config.httpShouldSetCookies = false
        session = URLSession(configuration: config)
    }

    /// Sends one request; `call` names it in errors ("nova: PUT /os-services/…"). A request
    /// that is not idempotent (a POST, unless `retry` says so) is sent once: a retried
    /// evacuation could run twice.
    public func send(
        _ method: String, _ url: String, headers: [String: String] = [:], body: JSONValue? = nil, call: String, retry: Bool? = nil
    ) async throws(OpenStackError) -> Response {
        let tries = (retry ?? (method != "POST")) ? attempts : 1
        guard let u = URL(string: url) else { throw OpenStackError(call: call, status: nil, message: "not a URL: \(url)") }
        var request = URLRequest(url: u, timeoutInterval: timeout)
        request.httpMethod = method
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        request.setValue("lifeboat/0.2", forHTTPHeaderField: "User-Agent")
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(JSONWriter.write(body, timeKeys: []).utf8)
        }
        var last = OpenStackError(call: call, status: nil, message: "not sent")
        for attempt in 0..<tries {
            if attempt > 0 { try? await Task.sleep(for: .milliseconds(Int(backoff * 1000 * Double(1 << (attempt - 1))))) }
            if Task.isCancelled { throw OpenStackError(call: call, status: nil, message: "cancelled") }
            do {
                let (data, response) = try await Self.fetch(session, request)
                guard let http = response as? HTTPURLResponse else {
                    last = OpenStackError(call: call, status: nil, message: "not an HTTP answer")
                    continue
                }
                var hs: [String: String] = [:]
                for (k, v) in http.allHeaderFields { hs[String(describing: k).lowercased()] = String(describing: v) }
                let r = Response(status: http.statusCode, headers: hs, body: [UInt8](data))
                if (500...599).contains(r.status) {
                    last = OpenStackError(call: call, status: r.status, message: Self.message(r.body), requestID: r.requestID)
                    continue
                }
                return r
            } catch {
                last = OpenStackError(call: call, status: nil, message: Self.describe(error))
            }
        }
        throw last
    }

    /// One exchange through URLSession that a cancelled task leaves at once. URLSession's own
    /// async `data(for:)` cancels its URLSession task inside the cancelled Swift task's
    /// status lock, while a network thread completing that request takes the two locks in the
    /// other order: a deadlock (swift-corelibs-foundation issue 5412). Found by
    /// `lab chaos --nova` (seed 1): a leader that lost its term cancelled two Nova requests as
    /// they failed, and its actor hung for good (no log, no status). Cancelling the URLSession
    /// task from elsewhere is no cure: `cancel()` on a task that has just failed crashes
    /// ("a task that is not in the registry"). So a cancelled request is not cancelled in
    /// URLSession at all: its caller is answered `cancelled` at once, and the exchange ends
    /// by itself (answer or `timeout`), unheard. What was sent has reached Nova either way.
    /// `HTTPClientTests` cancels 3,000 failing requests (the stock call hangs within the
    /// first 500).
    static func fetch(_ session: URLSession, _ request: URLRequest) async throws -> (Data, URLResponse) {
        let pending = PendingRequest()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: PendingRequest.Answer) in
                guard pending.wait(c) else { return }
                session.dataTask(with: request) { data, response, error in
                    if let error {
                        pending.finish(.failure(error))
                    } else if let response {
                        pending.finish(.success((data ?? Data(), response)))
                    } else {
                        pending.finish(.failure(URLError(.badServerResponse)))
                    }
                }.resume()
            }
        } onCancel: {
            pending.cancel()
        }
    }

    /// The service's own message from an error body (Nova's `{"badRequest": {"message"}}`,
    /// Keystone's `{"error": {"message"}}`, …), else the body's beginning.
    static func message(_ body: [UInt8]) -> String {
        if let json = try? JSONParser.parse(bytes: body), case .object(let members) = json {
            for (_, v) in members {
                if case .string(let m) = v["message"] ?? .null { return m }
                if case .string(let m) = v["faultstring"] ?? .null { return m }
            }
            if case .string(let m) = json["message"] ?? .null { return m }
        }
        let text = String(decoding: body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "(no message)" : text
    }

    static func describe(_ error: any Error) -> String {
        if let u = error as? URLError {
            switch u.code {
            case .timedOut: return "timed out"
            case .cancelled: return "cancelled"
            case .cannotConnectToHost: return "connection refused"
            case .cannotFindHost: return "host not found"
            case .networkConnectionLost: return "connection lost"
            case .notConnectedToInternet: return "network unreachable"
            default: return "network error \(u.code.rawValue)"
            }
        }
        return "\(error)"
    }
}

/// The caller of one exchange, answered exactly once: by the exchange's end, or by its
/// cancellation, whichever comes first (also when the task was cancelled before it began).
final class PendingRequest: Sendable {
    typealias Answer = CheckedContinuation<(Data, URLResponse), any Error>
    private let state = Mutex<(waiting: Answer?, cancelled: Bool)>((nil, false))

    /// Keeps the caller waiting; false (and the caller answered) if it was cancelled already.
    func wait(_ c: Answer) -> Bool {
        let cancelled = state.withLock { s in
            if !s.cancelled { s.waiting = c }
            return s.cancelled
        }
        if cancelled { c.resume(throwing: URLError(.cancelled)) }
        return !cancelled
    }

    func finish(_ result: Result<(Data, URLResponse), any Error>) {
        let c = state.withLock { s in
            let c = s.waiting
            s.waiting = nil
            return c
        }
        c?.resume(with: result)
    }

    func cancel() {
        let c = state.withLock { s in
            s.cancelled = true
            let c = s.waiting
            s.waiting = nil
            return c
        }
        c?.resume(throwing: URLError(.cancelled))
    }
}
