# A TCP client that half-closes: every 0.3 s it connects to the server, sends a byte, shuts down
# its sending side and keeps the socket open (the last 40) without reading the answer.
# Usage: tcp_halfclose_client.py BOOTSTRAP_URL PORT
import socket
import sys
import time

host = sys.argv[1].split("//", 1)[-1].split(":", 1)[0].strip("/")
port = int(sys.argv[2])
held = []
while True:
    try:
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(b"x")
        s.shutdown(socket.SHUT_WR)
        held.append(s)
        if len(held) > 40:
            held.pop(0).close()
        print("sent", flush=True)
    except OSError as e:
        print("error %s" % e, flush=True)
    time.sleep(0.3)
