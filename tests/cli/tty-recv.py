#!/usr/bin/env python3
# A --console-socket receiver that can resize the terminal, as conmon and containerd's shim do:
# take the pty master passed with SCM_RIGHTS, copy the terminal's output to OUTFILE, and whenever
# CTLFILE appears holding "ROWS COLS", set that size on the master (TIOCSWINSZ) and remove it.
#   tty-recv.py SOCKET OUTFILE CTLFILE
import fcntl, os, struct, sys, termios

from pty_recv import copy_output, receive_master

ctl = sys.argv[3]
_, master = receive_master(sys.argv[1])
if master is None:
    sys.exit(1)


def resize():
    if os.path.exists(ctl):
        rows, cols = map(int, open(ctl).read().split())
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.unlink(ctl)


with open(sys.argv[2], "ab", buffering=0) as out:
    copy_output(master, out, resize)
