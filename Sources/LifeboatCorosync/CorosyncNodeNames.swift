import CCorosync
import Foundation

/// The node names of corosync's configuration (`nodelist { node { nodeid, name } }`), read
/// through libcmap: a node is called by its host name (the name Nova knows it by) from the
/// first status on, before any Lifeboat configuration names it.
public enum CorosyncNodeNames {
    /// Node id → name, for every node of the nodelist that has both.
    public static func read() throws(CorosyncError) -> [UInt32: String] {
        var handle: cmap_handle_t = 0
        let err = cmap_initialize(&handle)
        guard err == CS_OK else { throw CorosyncError(err, "cmap_initialize") }
        defer { cmap_finalize(handle) }
        var names: [UInt32: String] = [:]
        for n in 0..<4096 {
            var id: UInt32 = 0
            guard cmap_get_uint32(handle, "nodelist.node.\(n).nodeid", &id) == CS_OK else { break }
            var text: UnsafeMutablePointer<CChar>? = nil
            if cmap_get_string(handle, "nodelist.node.\(n).name", &text) == CS_OK, let text {
                names[id] = String(cString: text)
                free(text)
            }
        }
        return names
    }
}
