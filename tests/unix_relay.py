"""A Unix socket that one OS user can reach, relaying every connection to another Unix socket.

For tests that run programs as another user (tests/config/test_docker_entry_commands.py runs the
image's commands as `nobody`) against a PostgreSQL whose socket that user cannot reach: the embedded
server (config/launcher.py) keeps its socket in its data directory, which PostgreSQL requires to be
private to the user it runs as. The relay's socket is in a folder of its own, owned by the one user
the test runs as and closed to everyone else (mode 0700), so nobody else gains a way in; the server
itself is left as it is.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import threading
from pathlib import Path


class UnixRelay:
    """`folder/<name>` accepts connections from `user` (and root) only and relays each one, both
    ways, to the socket at `upstream`. `close()` stops it, drops the connections still open and
    removes its folder."""

    def __init__(self, folder: Path, name: str, upstream: str, user: str):
        entry = pwd.getpwnam(user)
        folder.mkdir(mode=0o700)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        self.folder, self.upstream = folder, upstream
        self.path = folder / name
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self.path))
        os.chown(self.path, entry.pw_uid, entry.pw_gid)
        self._listener.listen(64)
        threading.Thread(target=self._accept, name="unix-relay", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with self._lock:
            self._open |= {client, server}
        try:
            server.connect(self.upstream)
        except OSError:
            self._forget(client, server)
            return
        back = threading.Thread(target=self._pump, args=(server, client), daemon=True)
        back.start()
        self._pump(client, server)
        back.join()
        self._forget(client, server)

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        try:  # the other side sees the end, as it would on a direct connection
            target.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _forget(self, *sockets: socket.socket) -> None:
        with self._lock:
            self._open -= set(sockets)
        for sock in sockets:
            sock.close()

    def close(self) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            still_open, self._open = self._open, set()
        for sock in still_open:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        shutil.rmtree(self.folder, ignore_errors=True)
