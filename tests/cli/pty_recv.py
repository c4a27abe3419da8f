# The receiving end of a --console-socket, shared by console-recv.py and tty-recv.py: accept one
# connection like containerd's shim and conmon, take the pty master passed with SCM_RIGHTS, and
# copy the terminal's output to a file until the terminal closes.
import os, select, socket


def receive_master(path):
    """Listen on path, accept one connection; return (the name sent with the fd, the fd or None)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(1)
    conn, _ = s.accept()
    msg, fds, _, _ = socket.recv_fds(conn, 4096, 1)
    conn.close()
    s.close()
    return msg, (fds[0] if fds else None)


def copy_output(master, out, poll=None):
    """Append what the terminal writes to out until it closes; poll() is called every 0.1 s."""
    while True:
        if poll is not None:
            poll()
            if not select.select([master], [], [], 0.1)[0]:
                continue
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        out.write(data)
