# A UDP server as students write them: it knows its peers by the source address and port of their
# datagrams and answers there. Usage: python3 udp_echo.py <port> [<udp-delay-s>]. Also listens on
# TCP <port> so that `distlab run` sees it ready, and binds UDP <port> udp-delay-s seconds after (0):
# a client started at its readiness then sends before the server's UDP port, and so its relay, exist.
import socket
import sys
import threading
import time

port = int(sys.argv[1])
udp_delay_s = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("0.0.0.0", port))
tcp.listen(16)


def accept():
    while True:
        conn, _ = tcp.accept()
        conn.close()


threading.Thread(target=accept, daemon=True).start()
time.sleep(udp_delay_s)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("0.0.0.0", port))
print("udp bound", flush=True)
peers = set()
while True:
    data, addr = sock.recvfrom(2048)
    peer = "%s:%d" % addr
    if peer not in peers and len(peers) < 64:
        peers.add(peer)
        print("new peer %s" % peer, flush=True)
    sock.sendto(b"pong " + data[5:] + b" as " + peer.encode(), addr)
