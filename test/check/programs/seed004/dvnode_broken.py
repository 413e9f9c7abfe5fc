# A student's distance-vector node for seed 004, written for distlab's checks (Bellman-Ford).
# BROKEN: a destination already in the table keeps its first distance; shorter paths are ignored.
# Usage: python3 dvnode.py <local-port> <neighbor-port> <loss-rate> ... [last]
import json
import socket
import sys
import threading
import time


def ts():
    return "[%.3f]" % time.time()


def out(line):
    print(line, flush=True)


args = sys.argv[1:]
last = args[-1] == "last"
if last:
    args = args[:-1]
me = int(args[0])
links = {int(args[i]): float(args[i + 1]) for i in range(1, len(args), 2)}
table = {n: (c, n) for n, c in links.items()}  # destination -> (distance, next hop)
vectors = {}  # neighbour -> its advertised distances
sent_once = False
lock = threading.Lock()
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", me))


def show():
    out("%s Node %d Routing Table" % (ts(), me))
    for dest in sorted(table):
        d, hop = table[dest]
        line = "- (%s) -> Node %d" % (round(d, 4), dest)
        if hop != dest:
            line += " ; Next hop -> Node %d" % hop
        out(line)


def advertise():
    global sent_once
    sent_once = True
    vec = {str(dest): d for dest, (d, _) in table.items()}
    for n in links:
        sock.sendto(json.dumps({"from": me, "dv": vec}).encode(), ("127.0.0.1", n))
        out("%s Message sent from Node %d to Node %d" % (ts(), me, n))


def recompute():
    best = {n: (c, n) for n, c in links.items()}
    for n, vec in vectors.items():
        for dest, d in vec.items():
            if dest == me:
                continue
            cand = links[n] + d
            if dest not in best:
                best[dest] = (cand, n)
    return best


if last:
    show()
    advertise()
while True:
    data, _ = sock.recvfrom(65536)
    try:
        msg = json.loads(data.decode())
        n = int(msg["from"])
        vec = {int(k): float(v) for k, v in msg["dv"].items()}
    except (ValueError, KeyError, TypeError):
        continue
    if n not in links:
        continue
    out("%s Message received at Node %d from Node %d" % (ts(), me, n))
    vectors[n] = vec
    new = recompute()
    changed = new != table
    table = new
    if changed or not sent_once:
        show()
        advertise()
