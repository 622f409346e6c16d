import CCorosync
import CFreeIPMI

/// Proof that the Corosync and FreeIPMI client libraries are present and link.
///
/// The daemon issues build the real bindings (`CPG`, `Quorum`, `IPMI`) next to this file;
/// until then `lifeboat version` reports what this reads from the libraries.
public enum SystemLibraries {
    /// The value of `CS_OK` as compiled into this binary's view of `corotypes.h`.
    public static var corosyncOK: Int { Int(lifeboat_cs_ok()) }

    /// Creates and destroys one FreeIPMI object from a template: fails if libfreeipmi
    /// cannot build the chassis-status response layout the fencer reads.
    public static func freeIPMITemplatesUsable() -> Bool {
        guard let obj = lifeboat_obj_chassis_status_rs() else { return false }
        defer { fiid_obj_destroy(obj) }
        return fiid_obj_valid(obj) == 1
    }

    /// A human-readable name for a Corosync error code, as libcpg callers report it.
    public static func corosyncErrorName(_ code: Int) -> String {
        switch Int32(code) {
        case Int32(CS_OK.rawValue): "CS_OK"
        case Int32(CS_ERR_LIBRARY.rawValue): "CS_ERR_LIBRARY"
        case Int32(CS_ERR_BAD_HANDLE.rawValue): "CS_ERR_BAD_HANDLE"
        case Int32(CS_ERR_TRY_AGAIN.rawValue): "CS_ERR_TRY_AGAIN"
        default: "cs_error(\(code))"
        }
    }
}
