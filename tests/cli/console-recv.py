#!/usr/bin/env python3
# A --console-socket receiver, like containerd's shim and conmon: accept one connection, take the
# pty master passed with SCM_RIGHTS, then copy the terminal's output to OUTFILE until it closes.
#   console-recv.py SOCKET OUTFILE [INPUT]
import os, socket, sys

path, outfile = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(1)
conn, _ = s.accept()
msg, fds, _, _ = socket.recv_fds(conn, 4096, 1)
conn.close()
with open(outfile, "ab", buffering=0) as out:
    out.write(b"NAME " + msg + b"\n")
    if not fds:
        sys.exit(1)
    master = fds[0]
    if len(sys.argv) > 3:
        os.write(master, sys.argv[3].encode())
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        out.write(data)
