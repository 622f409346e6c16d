#ifndef LIFEBOAT_CFREEIPMI_SHIM_H
#define LIFEBOAT_CFREEIPMI_SHIM_H
// FreeIPMI (IPMI 2.0 out-of-band) and libipmiconsole (Serial-over-LAN).
#include <stdint.h>
#include <freeipmi/freeipmi.h>
#include <ipmiconsole.h>

// FreeIPMI's tmpl_* templates are incomplete arrays that Swift cannot import:
// each template the fencer uses gets a static inline constructor here.
static inline fiid_obj_t lifeboat_obj_chassis_status_rs(void) {
    return fiid_obj_create(tmpl_cmd_get_chassis_status_rs);
}
static inline fiid_obj_t lifeboat_obj_chassis_control_rs(void) {
    return fiid_obj_create(tmpl_cmd_chassis_control_rs);
}
#endif
