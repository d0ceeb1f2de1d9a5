"""Hold COUNT half-open ``GET /health`` requests to 127.0.0.1:PORT for SECONDS, reopening each
one the daemon drops (issue 13, Medium 5). Prints one JSON line: opened, dropped, held at the end.

Usage: python halfopen_flood.py PORT COUNT SECONDS
"""

import errno
import json
import resource
import selectors
import socket
import sys
import time

REQUEST = b"GET /health HTTP/1.1\r\nHost: flood\r\n"  # never the blank line that ends the headers


def main(port, count, seconds):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count + 64
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    count = min(count, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 64)
    selector = selectors.DefaultSelector()
    stats = {"opened": 0, "dropped": 0, "held": 0}

    def open_one():
        sock = socket.socket()
        sock.setblocking(False)
        if sock.connect_ex(("127.0.0.1", port)) not in (0, errno.EINPROGRESS):
            sock.close()
            return
        selector.register(sock, selectors.EVENT_WRITE)
        stats["opened"] += 1

    for _ in range(count):
        open_one()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for key, events in selector.select(0.2):
            sock = key.fileobj
            if events & selectors.EVENT_WRITE:  # connected: send the start of a request, then wait
                try:
                    sock.send(REQUEST)
                    selector.modify(sock, selectors.EVENT_READ)
                    continue
                except OSError:
                    pass
            else:
                try:
                    if sock.recv(4096):
                        continue  # an answer (a 503): keep reading until it closes
                except BlockingIOError:
                    continue
                except OSError:
                    pass
            selector.unregister(sock)  # dropped by the daemon: reopen
            sock.close()
            stats["dropped"] += 1
            open_one()
    stats["held"] = len(selector.get_map())
    print(json.dumps(stats))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
