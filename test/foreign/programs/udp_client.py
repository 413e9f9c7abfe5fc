# A UDP client bound to a fixed port (as seed 004's nodes are), pinging the server named by
# DISTLAB_BOOTSTRAP every 50 ms and printing each answer: "pong <n> as <address>:<port>" says where
# the server saw the ping come from. Usage: python3 udp_client.py <tcp-port> <udp-port>.
import os
import socket
import sys
import threading
import time
from urllib.parse import urlparse

tcp_port, udp_port = int(sys.argv[1]), int(sys.argv[2])
server = urlparse(os.environ["DISTLAB_BOOTSTRAP"])
tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("0.0.0.0", tcp_port))
tcp.listen(16)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("0.0.0.0", udp_port))


def listen():
    while True:
        data, addr = sock.recvfrom(2048)
        print("%s from %s:%d" % (data.decode(), addr[0], addr[1]), flush=True)


threading.Thread(target=listen, daemon=True).start()
print("pinging", flush=True)
for n in range(4000):  # at most 200 s
    sock.sendto(b"ping %d" % n, (server.hostname, server.port))
    time.sleep(0.05)
