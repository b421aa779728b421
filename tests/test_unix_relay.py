"""tests/unix_relay.py: bytes go both ways through the relay, its socket is its user's alone, and
closing it leaves nothing behind."""

import os
import pwd
import socket
import stat
import threading

from tests.unix_relay import UnixRelay


def _echo_server(path: str) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def serve():
        connection, _ = server.accept()
        with connection:
            while data := connection.recv(1024):
                connection.sendall(data.upper())

    threading.Thread(target=serve, daemon=True).start()
    return server


def test_relays_both_ways_to_its_user_only_and_cleans_up(tmp_path):
    upstream = _echo_server(str(tmp_path / "upstream.sock"))
    relay = UnixRelay(tmp_path / "relay", "echo.sock", str(tmp_path / "upstream.sock"), "nobody")
    try:
        nobody = pwd.getpwnam("nobody").pw_uid
        folder = os.stat(relay.folder)
        assert (folder.st_uid, stat.S_IMODE(folder.st_mode)) == (nobody, 0o700)
        assert os.stat(relay.path).st_uid == nobody
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(str(relay.path))
            client.sendall(b"hello")
            answer = b""
            while len(answer) < 5 and (chunk := client.recv(1024)):
                answer += chunk
            assert answer == b"HELLO"
    finally:
        relay.close()
        upstream.close()
    assert not relay.folder.exists()
