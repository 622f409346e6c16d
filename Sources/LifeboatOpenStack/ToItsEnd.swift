/// Runs `body` in a task of its own and returns its result once it has ended, even when the
/// calling task is cancelled meanwhile.
///
/// For a request to Nova that must not be doubled (an evacuation: Nova takes a second one
/// for a server it is already rebuilding). `HTTPClient` answers a cancelled caller at once
/// while the exchange goes on unheard; a leader whose attempt was cancelled that way once
/// re-issued the evacuation 0.2 s later, checked Nova before Nova had recorded the first
/// request, and sent a second (`lab chaos --nova`, seed 24). Waiting here for the end holds
/// the next attempt back (the conductor runs one executor per key) until Nova has answered
/// or the request has timed out, so the next attempt finds the first in Nova's records.
func toItsEnd<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T {
    await Task { await body() }.value
}
