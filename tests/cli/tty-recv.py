#!/usr/bin/env python3
# A --console-socket receiver that can resize the terminal, as conmon and containerd's shim do:
# take the pty master passed with SCM_RIGHTS, copy the terminal's output to OUTFILE, and whenever
# CTLFILE appears holding "ROWS COLS", set that size on the master (TIOCSWINSZ) and remove it.
#   tty-recv.py SOCKET OUTFILE CTLFILE
import fcntl, os, select, socket, struct, sys, termios

path, outfile, ctl = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(1)
conn, _ = s.accept()
msg, fds, _, _ = socket.recv_fds(conn, 4096, 1)
conn.close()
if not fds:
    sys.exit(1)
master = fds[0]
with open(outfile, "ab", buffering=0) as out:
    while True:
        if os.path.exists(ctl):
            rows, cols = map(int, open(ctl).read().split())
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            os.unlink(ctl)
        r, _, _ = select.select([master], [], [], 0.1)
        if not r:
            continue
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        out.write(data)
