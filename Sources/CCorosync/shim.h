#ifndef LIFEBOAT_CCOROSYNC_SHIM_H
#define LIFEBOAT_CCOROSYNC_SHIM_H
// Corosync 3 client libraries used by lifeboatd: process groups (CPG) and quorum.
#include <corosync/corotypes.h>
#include <corosync/cpg.h>
#include <corosync/quorum.h>

/// CS_OK as a plain int: the enum constant does not always import with the right type.
static inline int lifeboat_cs_ok(void) { return CS_OK; }
#endif
