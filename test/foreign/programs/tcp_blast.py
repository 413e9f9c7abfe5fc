# A bulk TCP transfer between two instances, to measure a bandwidth limit.
# Usage: python3 tcp_blast.py <port> recv
#        python3 tcp_blast.py <port> send <kbytes>   (to the bootstrap, DISTLAB_BOOTSTRAP)
# The receiver prints "got <bytes> bytes in <ms> ms" per connection (from accept to end of
# stream), then "content intact" if every byte is the b"x" the sender sends (else "content damaged"); the sender sends <kbytes> KiB per connection, up to 100 times, and also listens on
# <port> so that `distlab run` sees it up.
import os
import socket
import sys
import threading
import time
from urllib.parse import urlparse

port, role = int(sys.argv[1]), sys.argv[2]
lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lsock.bind(("0.0.0.0", port))
lsock.listen(16)


def serve(conn):
    start, total, intact = time.time(), 0, True
    while True:
        data = conn.recv(65536)
        if not data:
            break
        total += len(data)
        intact = intact and data.count(b"x") == len(data)
    ms = (time.time() - start) * 1000
    print("got %d bytes in %d ms" % (total, ms), flush=True)
    print("content %s" % ("intact" if intact else "damaged"), flush=True)
    conn.close()


def accept():
    while True:
        conn, _ = lsock.accept()
        if role == "recv":
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
        else:
            conn.close()


if role == "recv":
    accept()
threading.Thread(target=accept, daemon=True).start()
server = urlparse(os.environ["DISTLAB_BOOTSTRAP"])
block = b"x" * (int(sys.argv[3]) * 1024)
for _ in range(100):
    s = socket.create_connection((server.hostname, server.port), timeout=60)
    s.sendall(block)
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096):
        pass
    s.close()
    time.sleep(0.1)
