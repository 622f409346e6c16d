import Foundation

/// Reads a BMC password from its file, refusing a file that anyone but its owner could
/// read: the secret lives only there (never on a command line, in a log, a wire message,
/// `status` or the history).
public enum PasswordFile {
    public static func read(_ path: String) throws(FenceError) -> String {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw FenceError("password file \(path): \(String(cString: strerror(errno)))")
        }
        guard st.st_mode & S_IFMT == S_IFREG else { throw FenceError("password file \(path) is not a regular file") }
        guard st.st_mode & 0o077 == 0 else {
            throw FenceError(
                "password file \(path) is readable by group or others (mode \(String(st.st_mode & 0o777, radix: 8))): refusing it; chmod 600 \(path)")
        }
        guard st.st_uid == geteuid() else {
            throw FenceError("password file \(path) belongs to uid \(st.st_uid), not to this daemon's uid \(geteuid()): refusing it")
        }
        guard st.st_size <= 1024, let data = FileManager.default.contents(atPath: path),
            let text = String(data: data, encoding: .utf8)
        else { throw FenceError("password file \(path) is not a short UTF-8 text file") }
        var password = text
        while password.hasSuffix("\n") || password.hasSuffix("\r") { password.removeLast() }
        guard !password.isEmpty else { throw FenceError("password file \(path) is empty") }
        return password
    }
}
