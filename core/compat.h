/* The one place for io_uring definitions newer than the liburing 2.3 headers
 * Debian 12 ships. The running kernel is newer than the headers, so ringcast
 * defines what it uses here and probes at start-up whether the kernel has it
 * (see rc_loop_uring_create(), which logs the result). Values are the kernel UAPI's. */
#ifndef RC_COMPAT_H
#define RC_COMPAT_H

#include <liburing.h>

/* Feature bits reported in io_uring_params.features. */
#ifndef IORING_FEAT_REG_REG_RING
#define IORING_FEAT_REG_REG_RING	(1U << 13)	/* 6.3 */
#endif
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE	(1U << 14)	/* 6.10 */
#endif

/* Setup flags. */
#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY		(1U << 16)	/* 6.6 */
#endif

/* SEND_ZC: ask the notification CQE to say whether the kernel had to copy
 * (it always does on loopback). */
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE	(1U << 3)	/* 6.2 */
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED	(1U << 31)
#endif

/* Multishot accept refinements. */
#ifndef IORING_ACCEPT_DONTWAIT
#define IORING_ACCEPT_DONTWAIT		(1U << 1)	/* 6.10 */
#endif

#endif
