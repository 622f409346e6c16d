#ifndef LIFEBOAT_CCOROSYNC_SHIM_H
#define LIFEBOAT_CCOROSYNC_SHIM_H
// Corosync 3 client libraries used by lifeboatd: process groups (CPG) and quorum.
// Small inline helpers keep struct juggling (model data, cpg_name, iovec) out of Swift.
#include <string.h>
#include <sys/uio.h>
#include <sys/eventfd.h>
#include <corosync/corotypes.h>
#include <corosync/cpg.h>
#include <corosync/quorum.h>
#include <corosync/cmap.h>

/// CS_OK as a plain int: the enum constant does not always import with the right type.
static inline int lifeboat_cs_ok(void) { return CS_OK; }

/// A non-blocking eventfd that wakes the dispatch thread (send queue, shutdown).
static inline int lifeboat_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

/// cpg_model_initialize with the V1 model (confchg + totem callbacks, initial totem conf).
static inline cs_error_t lifeboat_cpg_initialize(cpg_handle_t *handle, cpg_deliver_fn_t deliver,
                                                 cpg_confchg_fn_t confchg, cpg_totem_confchg_fn_t totem,
                                                 void *context) {
    cpg_model_v1_data_t model;
    memset(&model, 0, sizeof model);
    model.model = CPG_MODEL_V1;
    model.cpg_deliver_fn = deliver;
    model.cpg_confchg_fn = confchg;
    model.cpg_totem_confchg_fn = totem;
    model.flags = CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF;
    return cpg_model_initialize(handle, CPG_MODEL_V1, (cpg_model_data_t *)&model, context);
}

static inline int lifeboat_cpg_name(struct cpg_name *out, const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > CPG_MAX_NAME_LENGTH) return -1;
    out->length = (uint32_t)n;
    memcpy(out->value, name, n);
    return 0;
}

static inline cs_error_t lifeboat_cpg_join(cpg_handle_t handle, const char *name) {
    struct cpg_name group;
    if (lifeboat_cpg_name(&group, name) != 0) return CS_ERR_INVALID_PARAM;
    return cpg_join(handle, &group);
}

static inline cs_error_t lifeboat_cpg_leave(cpg_handle_t handle, const char *name) {
    struct cpg_name group;
    if (lifeboat_cpg_name(&group, name) != 0) return CS_ERR_INVALID_PARAM;
    return cpg_leave(handle, &group);
}

/// Multicast with agreed (total) order to the joined group.
static inline cs_error_t lifeboat_cpg_mcast_agreed(cpg_handle_t handle, const void *data, size_t length) {
    struct iovec iov;
    iov.iov_base = (void *)data;
    iov.iov_len = length;
    return cpg_mcast_joined(handle, CPG_TYPE_AGREED, &iov, 1);
}

static inline cs_error_t lifeboat_quorum_initialize(quorum_handle_t *handle, quorum_notification_fn_t notify,
                                                    void *context) {
    quorum_callbacks_t callbacks;
    uint32_t quorum_type = 0;
    callbacks.quorum_notify_fn = notify;
    cs_error_t err = quorum_initialize(handle, &callbacks, &quorum_type);
    if (err == CS_OK) err = quorum_context_set(*handle, context);
    return err;
}
static void lifeboat_quorum_probe_notify(quorum_handle_t handle, uint32_t quorate, uint64_t ring_seq,
                                         uint32_t view_list_entries, uint32_t *view_list) {
    (void)handle; (void)quorate; (void)ring_seq; (void)view_list_entries; (void)view_list;
}

/// A libquorum connection for synchronous quorum_getquorate calls only (no tracking).
static inline cs_error_t lifeboat_quorum_probe_initialize(quorum_handle_t *handle) {
    quorum_callbacks_t callbacks;
    uint32_t quorum_type = 0;
    callbacks.quorum_notify_fn = lifeboat_quorum_probe_notify;
    return quorum_initialize(handle, &callbacks, &quorum_type);
}
#endif
