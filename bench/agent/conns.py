"""Holds N established TCP connections on loopback for the agent benchmark: one server process accepting, one
client process connecting (two owners, as on a real host). Prints "ready <port> <server pid> <client pid>" and
keeps the sockets until stdin closes."""
import os
import resource
import socket
import sys


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(soft, n), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    raise_nofile(n + 256)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4096)
    port = lsock.getsockname()[1]
    r, w = os.pipe()
    server = os.fork()
    if server == 0:
        os.close(r)
        held = [lsock.accept()[0] for _ in range(n)]
        os.write(w, b"x")
        sys.stdin.read()
        os._exit(0 if held else 1)
    os.close(w)
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    assert os.read(r, 1) == b"x"
    lsock.close()
    print(f"ready {port} {server} {os.getpid()}", flush=True)
    sys.stdin.read()
    for s in held:
        s.close()
    os.waitpid(server, 0)


if __name__ == "__main__":
    main()
