import CCorosync
import CFreeIPMI

/// Proof that the Corosync and FreeIPMI client libraries are present and link.
///
/// The Corosync bindings live in LifeboatCorosync; the FreeIPMI fencer (next issue) will
/// grow next to this file. `lifeboat version` reports what this reads from the libraries.
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
}
