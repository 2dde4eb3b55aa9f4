/* USDT probes (provider "ringcast") at the points a profile asks about.
 *
 * With <sys/sdt.h> (Debian: systemtap-sdt-dev) each probe is a single nop in
 * the code plus a note in the ELF file: free when nobody listens, and
 * `perf probe` or bpftrace can attach to it by name without a rebuild. The
 * build defines RC_HAVE_SDT when the header exists; otherwise the probes
 * compile to nothing. docs/PROFILING.md lists them with their arguments and
 * one-liners that use them. */
#ifndef RC_PROBES_H
#define RC_PROBES_H

#if defined(RC_HAVE_SDT)
#include <sys/sdt.h>
#define RC_PROBE1(name, a)		DTRACE_PROBE1(ringcast, name, a)
#define RC_PROBE2(name, a, b)		DTRACE_PROBE2(ringcast, name, a, b)
#define RC_PROBE3(name, a, b, c)	DTRACE_PROBE3(ringcast, name, a, b, c)
#else
#define RC_PROBE1(name, a)		do { (void)(a); } while (0)
#define RC_PROBE2(name, a, b)		do { (void)(a); (void)(b); } while (0)
#define RC_PROBE3(name, a, b, c)	do { (void)(a); (void)(b); (void)(c); } while (0)
#endif

#endif
