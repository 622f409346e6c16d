#ifndef LIFEBOAT_CFREEIPMI_SHIM_H
#define LIFEBOAT_CFREEIPMI_SHIM_H
// FreeIPMI (IPMI 2.0 out-of-band) and libipmiconsole (Serial-over-LAN).
#include <stdint.h>
#include <string.h>
#include <spawn.h>

/// Fence agents inherit no descriptor of lifeboatd past stdio (glibc 2.34+).
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *, int);
static inline int lifeboat_spawn_closefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}
#include <unistd.h>
#include <sys/syscall.h>

/// The calling thread's kernel id (a Linux thread has a nice value of its own; glibc's
/// gettid() is not visible to Swift).
static inline pid_t lifeboat_gettid(void) {
    return (pid_t)syscall(SYS_gettid);
}
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

/// Chassis power state: 1 on, 0 off, -1 error (the message is in the context).
static inline int lifeboat_ipmi_power_state(ipmi_ctx_t ctx) {
    fiid_obj_t obj = lifeboat_obj_chassis_status_rs();
    if (!obj) return -1;
    int rv = -1;
    if (ipmi_cmd_get_chassis_status(ctx, obj) >= 0) {
        uint64_t on = 0;
        if (FIID_OBJ_GET(obj, "current_power_state.power_is_on", &on) >= 0) rv = on ? 1 : 0;
    }
    fiid_obj_destroy(obj);
    return rv;
}

/// Chassis control (0 power down, 1 up, 2 cycle, 5 soft off): 0 ok, -1 error.
static inline int lifeboat_ipmi_chassis_control(ipmi_ctx_t ctx, uint8_t control) {
    fiid_obj_t obj = lifeboat_obj_chassis_control_rs();
    if (!obj) return -1;
    int rv = ipmi_cmd_chassis_control(ctx, control, obj) >= 0 ? 0 : -1;
    fiid_obj_destroy(obj);
    return rv;
}

/// A SOL context for payload instance `instance` (2: the history dump of ipmi_sim), with
/// every protocol and engine value given explicitly (0 or a default would make the library
/// read libipmiconsole.conf). Keep retransmission <= keepalive <= session timeout.
static inline ipmiconsole_ctx_t lifeboat_console_ctx(const char *hostname, const char *username, const char *password,
                                                     int privilege, int cipher_suite, unsigned int workarounds,
                                                     int session_ms, int retransmission_ms, int keepalive_ms,
                                                     unsigned int instance) {
    struct ipmiconsole_ipmi_config ipmi;
    struct ipmiconsole_protocol_config protocol;
    struct ipmiconsole_engine_config engine;
    memset(&ipmi, 0, sizeof ipmi);
    memset(&protocol, 0, sizeof protocol);
    memset(&engine, 0, sizeof engine);
    ipmi.username = (char *)username;
    ipmi.password = (char *)password;
    ipmi.k_g = NULL;
    ipmi.k_g_len = 0;
    ipmi.privilege_level = privilege;
    ipmi.cipher_suite_id = cipher_suite;
    ipmi.workaround_flags = workarounds;
    protocol.session_timeout_len = session_ms;
    protocol.retransmission_timeout_len = retransmission_ms;
    protocol.retransmission_backoff_count = 2;
    protocol.keepalive_timeout_len = keepalive_ms;
    protocol.retransmission_keepalive_timeout_len = retransmission_ms;
    protocol.acceptable_packet_errors_count = 16;
    protocol.maximum_retransmission_count = 16;
    engine.engine_flags = 0;
    engine.behavior_flags = 0;
    engine.debug_flags = 0;
    ipmiconsole_ctx_t c = ipmiconsole_ctx_create(hostname, &ipmi, &protocol, &engine);
    if (c && instance > 1) {
        if (ipmiconsole_ctx_set_config(c, IPMICONSOLE_CTX_CONFIG_OPTION_SOL_PAYLOAD_INSTANCE, &instance) < 0) {
            ipmiconsole_ctx_destroy(c);
            return NULL;
        }
    }
    return c;
}
#endif
