"""Test plumbing inside a test VM (scenario 8): a TCP relay from the container's loopback to the host's.

    python3 relay.py PORT HOST   # listens on 127.0.0.1:PORT, forwards each connection to HOST:PORT

Run in a container whose network namespace the pipe's container joins (`--network container:<relay>`), so
the pipe reaches the local Bitbucket at http://127.0.0.1:PORT, the same URL as on the host: the pipe accepts
plain http:// only for a loopback host (pipe/config/parsers.py, parse_endpoint), and the guest reaches the
host's loopback only as 10.0.2.2. The pipe's own container keeps its own network namespace otherwise, as
Bitbucket runs a pipe (never --network host). Standard library only: it runs on the base image stand-in.
"""

from __future__ import annotations

import socket
import sys
import threading


def pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(port: int, host: str) -> None:
    listener = socket.create_server(("127.0.0.1", port))
    print(f"relay 127.0.0.1:{port} -> {host}:{port}", flush=True)
    while True:
        client, _ = listener.accept()
        try:
            upstream = socket.create_connection((host, port), timeout=30)
        except OSError as error:
            print(f"relay: {host}:{port} unreachable: {error}", flush=True)
            client.close()
            continue
        upstream.settimeout(None)
        threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
