/// Whether an evacuation is sent to Nova, followed, found done, or refused: decided from
/// Nova's unended evacuation record of the server and the server itself, **read in that
/// order**.
///
/// Why the order: Nova moves an evacuated server through (source, no task) → (source,
/// `rebuilding`) with an `accepted` record → (target, `rebuild_spawning`) → (target, no
/// task) with the record `done`. Reading the record first and the server second, whatever
/// the server shows is as new as the record or newer, so an evacuation that another request
/// started is never missed: either its record was read unended, or the server shows it
/// (a task, or the target). The opposite order missed one: a new leader read the server
/// still on its source (the dead leader's held request had just reached Nova), then the
/// record already `done`, and sent a second evacuation that Nova refused with 400 (CI,
/// `test_an_evacuation_on_its_way_when_its_leader_dies_is_followed_not_sent_again`).
enum EvacuationStart: Equatable, Sendable {
    /// Settled on the target (in that status): a re-issue of an evacuation that already happened.
    case alreadyThere(status: String)
    /// Under way to the target (another attempt's request, or an earlier evacuation that
    /// Nova has not ended): followed, never sent again.
    case follow(because: String)
    /// Not evacuated, for the reason given.
    case refuse(String)
    /// On its source with no task and no unended evacuation: the request may be sent.
    case send
    /// On its source with a task but no unended record yet (Nova saves the task a moment
    /// before it creates the record): read again shortly.
    case readAgain(task: String)

    static func decide(unended m: NovaClient.Migration?, server s: NovaClient.Server, id: String, from: String, to: String) -> EvacuationStart {
        if s.host == to, NovaExecutor.settled(s) { return .alreadyThere(status: s.status) }
        if s.host != from && s.host != to { return .refuse("\(id) is on \(s.host ?? "no host"), not on \(from): not evacuated") }
        // On the target, not settled yet: an evacuation to it is under way (accepted after
        // the record was read, or its record is the one read).
        if s.host == to { return .follow(because: m.map { "migration \($0.id) to \(to) (\($0.status))" } ?? "already on \(to) (\(s.status), task \(s.taskState ?? "none"))") }
        // An earlier evacuation of it that Nova has not ended is never doubled: when its
        // target died before the rebuild began, Nova still holds the rebuild and replays it
        // once that host's compute is back, whatever happened meanwhile. A second request
        // (which Nova accepts: the server is still on its source, with no task) ran the
        // server on two hosts (`lab chaos --nova`, seed 10). The same target: that one is
        // followed.
        if let m {
            if m.dest_compute != to {
                return .refuse(
                    "not evacuated to \(to): Nova's earlier evacuation of \(id) (migration \(m.id) to \(m.dest_compute ?? "a host of its scheduler's choosing"), \(m.status)) has not ended, and a second could run it twice"
                )
            }
            return .follow(because: "migration \(m.id) to \(to) (\(m.status))")
        }
        if let task = s.taskState { return .readAgain(task: task) }
        return .send
    }
}
