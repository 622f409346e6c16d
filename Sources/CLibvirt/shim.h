#ifndef LIFEBOAT_CLIBVIRT_SHIM_H
#define LIFEBOAT_CLIBVIRT_SHIM_H
#include <stddef.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

// libvirt prints every error on stderr unless told otherwise; the monitor reports its own.
static void lifeboat_virt_quiet_error(void *userdata, virErrorPtr error) { (void)userdata; (void)error; }
static inline void lifeboat_virt_silence_errors(void) { virSetErrorFunc(NULL, lifeboat_virt_quiet_error); }

// The last error's message on this thread ("" if none).
static inline const char *lifeboat_virt_last_error(void) {
    virErrorPtr e = virGetLastError();
    return (e && e->message) ? e->message : "";
}

// virConnectDomainEventRegisterAny takes a generic callback: the lifecycle one is cast
// here, where C allows it (VIR_DOMAIN_EVENT_CALLBACK).
static inline int lifeboat_virt_register_lifecycle(
    virConnectPtr conn, virConnectDomainEventCallback cb, void *opaque) {
    return virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(cb), opaque, NULL);
}
#endif
