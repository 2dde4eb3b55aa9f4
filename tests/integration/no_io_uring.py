"""Runs a command with io_uring_setup, io_uring_enter and io_uring_register
failing with EPERM, as the default seccomp profiles of Docker >= 25 and
containerd >= 2.0 do (moby PR 46762, containerd PR 9320).

Usage: /usr/bin/python3 no_io_uring.py COMMAND [ARGS...]

The filter is loaded with Debian's python3-seccomp (libseccomp's bindings,
built for /usr/bin/python3, not for another python3 on PATH) and the
command is exec'd in place, so it keeps this process's PID and the filter.
libseccomp sets no_new_privs first, as an unprivileged process must."""
import errno
import os
import sys

import seccomp

if len(sys.argv) < 2:
    sys.exit("usage: no_io_uring.py COMMAND [ARGS...]")
f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
for name in ("io_uring_setup", "io_uring_enter", "io_uring_register"):
    f.add_rule(seccomp.ERRNO(errno.EPERM), name)
f.load()
os.execvp(sys.argv[1], sys.argv[1:])
