#!/usr/bin/env python3
# A --console-socket receiver, like containerd's shim and conmon: accept one connection, take the
# pty master passed with SCM_RIGHTS, then copy the terminal's output to OUTFILE until it closes.
#   console-recv.py SOCKET OUTFILE [INPUT]
import os, sys

from pty_recv import copy_output, receive_master

name, master = receive_master(sys.argv[1])
with open(sys.argv[2], "ab", buffering=0) as out:
    out.write(b"NAME " + name + b"\n")
    if master is None:
        sys.exit(1)
    if len(sys.argv) > 3:
        os.write(master, sys.argv[3].encode())
    copy_output(master, out)
