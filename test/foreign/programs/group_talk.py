# Traffic that does not go through distlab's relays, between namespaced instances of `distlab run`:
# IP multicast to 224.1.1.1:5007 (seed 001's JSON and binary datagrams), a broadcast to
# 255.255.255.255:5008, and a UDP datagram to a port nobody listens on; then TCP lines to a port
# that does listen (relayed). Every instance listens on TCP <port> so that `distlab run` sees it up.
# Usage: python3 group_talk.py <port> <index> <rounds>
#   index 1 sends; 2 and 3 join the group and bind 5008; 4 binds 5007 and 5008 but joins no group.
# Receivers print "group <text> from <ip>" and "broadcast <text> from <ip>"; the sender prints
# "sent <n> rounds" once done, then "sent tcp <k>" for each TCP line.
import json
import os
import socket
import struct
import sys
import threading
import time

GROUP, GPORT, BPORT = "224.1.1.1", 5007, 5008
port, index, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lsock.bind(("0.0.0.0", port))
lsock.listen(16)


def serve():
    while True:
        conn, addr = lsock.accept()
        data = b""
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        print("tcp %s from %s" % (data.decode().strip(), addr[0]), flush=True)
        conn.close()


def listen(sock, kind):
    while True:
        data, addr = sock.recvfrom(65536)
        text = data.decode("utf-8", "replace") if data[:1] == b"{" else "binary %d" % len(data)
        print("%s %s from %s" % (kind, text, addr[0]), flush=True)


threading.Thread(target=serve, daemon=True).start()
if index >= 2:
    g = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    g.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    g.bind(("", GPORT))
    if index <= 3:
        mreq = struct.pack("4s4s", socket.inet_aton(GROUP), socket.inet_aton("0.0.0.0"))
        g.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    b.bind(("", BPORT))
    threading.Thread(target=listen, args=(g, "group"), daemon=True).start()
    threading.Thread(target=listen, args=(b, "broadcast"), daemon=True).start()
    print("joined" if index <= 3 else "not joined", flush=True)
    while True:
        time.sleep(3600)

# The sender: wait until the receivers say they joined (the test starts every node at once).
time.sleep(float(os.environ.get("TALK_DELAY", "2")))
peers = [p.split("//")[1].split(":")[0] for p in os.environ["DISTLAB_PEERS"].split(",")]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
for n in range(rounds):
    s.sendto(json.dumps({"sensor": "temp", "value": 23.5, "n": n}).encode(), (GROUP, GPORT))
    s.sendto(bytes([0xCA, 0xFE, n % 256]) + b"\x00" * 13, (GROUP, GPORT))
    s.sendto(json.dumps({"hello": "all", "n": n}).encode(), ("255.255.255.255", BPORT))
    s.sendto(json.dumps({"nobody": "home", "n": n}).encode(), (peers[-1], 6999))
    time.sleep(0.1)
print("sent %d rounds" % rounds, flush=True)
for k in range(3):
    c = socket.create_connection((peers[0], port), timeout=30)
    c.sendall(b"line %d\n" % k)
    c.shutdown(socket.SHUT_WR)
    c.recv(16)
    c.close()
    print("sent tcp %d" % k, flush=True)
while True:
    time.sleep(3600)
