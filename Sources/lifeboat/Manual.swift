import ArgumentParser
import Foundation

/// `lifeboat help [COMMAND…]`: the manual, like a man page: every command with what it does,
/// its synopsis and options, examples, files, exit status. `--man` writes it in roff for
/// `man -l` (Scripts/install puts it in man8).
struct Manual: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "help", abstract: "The manual: every command, or one (lifeboat help history), like a man page.")

    @Argument(help: "A command, and subcommands (lifeboat help ha policy add).") var command: [String] = []
    @Flag(help: "Write the whole manual as a roff man page (lifeboat.8).") var man = false
    @Option(help: "Columns to wrap at.") var width = 100

    func run() throws {
        if man { print(Self.roff(width: width)); return }
        guard !command.isEmpty else { print(Self.whole(width: width)); return }
        var type: any ParsableCommand.Type = Lifeboat.self
        var path: [String] = []
        for word in command {
            guard let next = Self.subcommands(of: type).first(where: { Self.name(of: $0) == word }) else {
                let known = Self.subcommands(of: type).map { Self.name(of: $0) }.joined(separator: ", ")
                throw fail("no command '\((path + [word]).joined(separator: " "))' (here: \(known))", code: 2)
            }
            type = next
            path.append(word)
        }
        print(Self.page(type, path: path, width: width))
    }

    static func subcommands(of t: any ParsableCommand.Type) -> [any ParsableCommand.Type] {
        t.configuration.subcommands.filter { name(of: $0) != "help" }
    }

    /// The name ArgumentParser gives a command: its own, or its type's in kebab case.
    static func name(of t: any ParsableCommand.Type) -> String {
        if let n = t.configuration.commandName { return n }
        var out = ""
        for (i, ch) in String(describing: t).enumerated() {
            if ch.isUppercase, i > 0 { out += "-" }
            out += ch.lowercased()
        }
        return out
    }

    /// Every command under `t` with its path, depth first.
    static func all(_ t: any ParsableCommand.Type, _ path: [String] = []) -> [([String], any ParsableCommand.Type)] {
        subcommands(of: t).flatMap { sub -> [([String], any ParsableCommand.Type)] in
            let p = path + [name(of: sub)]
            return [(p, sub)] + all(sub, p)
        }
    }

    /// One command's page: NAME, SYNOPSIS and options (ArgumentParser's own help), DESCRIPTION.
    static func page(_ t: any ParsableCommand.Type, path: [String], width: Int) -> String {
        let c = t.configuration
        var out = "NAME\n    lifeboat \(path.joined(separator: " ")) - \(c.abstract)\n\n"
        out += "SYNOPSIS AND OPTIONS\n" + indent(Lifeboat.helpMessage(for: t, columns: width - 4)) + "\n"
        if !c.discussion.isEmpty { out += "\nDESCRIPTION\n" + indent(c.discussion) + "\n" }
        let subs = subcommands(of: t)
        if !subs.isEmpty {
            out += "\nCOMMANDS\n" + subs.map { "    \(path.joined(separator: " ")) \(name(of: $0))\n        \($0.configuration.abstract)" }.joined(separator: "\n") + "\n"
        }
        out += "\nSEE ALSO\n    lifeboat help, lifeboat \(path.joined(separator: " ")) --help\n"
        return out
    }

    static let description = """
        Lifeboat keeps "pet" VMs on OpenStack compute hosts running. lifeboatd runs on every compute host
        next to corosync; the elected leader of the quorate partition fences a failed host through its BMC
        (IPMI 2.0), forces its nova-compute down, disables it, and evacuates its HA instances to other hosts
        of its failover segment, reserved hosts first. It restarts nova-compute and VMs in place, drains hosts
        for maintenance, and records every step in a history kept on every node.

        lifeboat talks to the local lifeboatd over its control socket (root only), except simulate and bench,
        which run the decision core offline, and history/incident/report with --database FILE.
        """

    static let files = """
        /etc/lifeboat/lifeboatd.conf      lifeboatd's settings (Docs/LIFEBOATD.md)
        /var/lib/lifeboat/                the replicated state (snapshot.lbs, events-G.log) and the durable
                                          history (history.sqlite)
        /run/lifeboat/lifeboatd.sock      the control socket (mode 0600)
        /usr/lib/ocf/resource.d/lifeboat/ the OCF agents nova-compute and nova-evacuate
        """

    static let exitStatus = """
        0   done
        1   the command ran and the answer is "no" or "failed" (refused by the cluster, a drain that left
            instances, no such record)
        2   bad input (an unknown host, a malformed file or option); nothing was changed
        3   simulate: a safety invariant broke during the replay
        """

    static let examples = """
        lifeboat status --watch                              the cluster, like crm_mon
        lifeboat config apply cluster.json                   segments, hosts, fencing, policy, HA rules
        lifeboat maintenance compute-3 on --drain --wait     move its instances away, then work on it
        lifeboat fence compute-7 --yes                       fence now, recover its instances
        lifeboat history --instance vm-1 --since 2026-11-24 --until 2026-11-25
        lifeboat incident show 12                            one failure's timeline, stage by stage
        lifeboat report --since 30d --format html --output sla.html
        lifeboat ha explain vm-1                             why it is (not) protected
        lifeboat simulate Docs/scenarios/01-host-crash-reserved-host.json
        """

    /// The whole manual: every command with its abstract, then files, exit status, examples.
    static func whole(width: Int) -> String {
        var out = "LIFEBOAT(8)                         Lifeboat                         LIFEBOAT(8)\n\n"
        out += "NAME\n    lifeboat - operate and simulate a Lifeboat cluster (instance HA for OpenStack)\n\n"
        out += "SYNOPSIS\n    lifeboat COMMAND [SUBCOMMAND] [OPTIONS]\n    lifeboat help [COMMAND…]\n\n"
        out += "DESCRIPTION\n" + indent(description) + "\n\nCOMMANDS\n"
        for (path, t) in all(Lifeboat.self) {
            let pad = String(repeating: "    ", count: path.count)
            out += "\(pad)\(path.joined(separator: " "))\n\(pad)    \(t.configuration.abstract)\n"
        }
        out += "\nFILES\n" + indent(files) + "\n\nEXIT STATUS\n" + indent(exitStatus) + "\n\nEXAMPLES\n" + indent(examples)
        out += "\n\nSEE ALSO\n    lifeboatd(8), corosync(8), lifeboat help COMMAND, Docs/ in the source tree\n"
        return out
    }

    /// The man page in roff.
    static func roff(width: Int) -> String {
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "\\", with: "\\e").split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.hasPrefix(".") || $0.hasPrefix("'") ? "\\&" + $0 : String($0) }.joined(separator: "\n")
        }
        var out = ".TH LIFEBOAT 8 \"\" \"Lifeboat\" \"System Administration\"\n"
        out += ".SH NAME\nlifeboat \\- operate and simulate a Lifeboat cluster (instance HA for OpenStack)\n"
        out += ".SH SYNOPSIS\n.B lifeboat\n.I COMMAND\n[\\fISUBCOMMAND\\fR] [\\fIOPTIONS\\fR]\n"
        out += ".SH DESCRIPTION\n" + esc(description) + "\n.SH COMMANDS\n"
        for (path, t) in all(Lifeboat.self) {
            out += ".TP\n.B lifeboat \(path.joined(separator: " "))\n" + esc(t.configuration.abstract) + "\n"
            if subcommands(of: t).isEmpty {
                out += ".nf\n" + esc(Lifeboat.helpMessage(for: t, columns: width)) + "\n.fi\n"
            }
        }
        out += ".SH FILES\n.nf\n" + esc(files) + "\n.fi\n.SH EXIT STATUS\n.nf\n" + esc(exitStatus) + "\n.fi\n"
        out += ".SH EXAMPLES\n.nf\n" + esc(examples) + "\n.fi\n.SH SEE ALSO\n.BR lifeboatd (8),\n.BR corosync (8)\n"
        return out
    }

    static func indent(_ s: String) -> String {
        s.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "    " + $0 }.joined(separator: "\n")
    }
}
