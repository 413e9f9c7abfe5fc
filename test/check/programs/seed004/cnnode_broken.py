# A student's combined node for seed 004 (GBN probes measure each link's loss rate, which becomes
# its distance-vector cost), written for distlab's checks. BROKEN: the loss rate divides the
# lost packets by those that arrived instead of those sent.
# Usage: python3 cnnode.py <local-port> receive <port> <loss-rate> ... send <port> ... [last]
import json
import random
import socket
import sys
import threading
import time

WINDOW, TIMEOUT, PACE = 5, 0.5, 0.004


def ts():
    return "[%.3f]" % time.time()


def out(line):
    print(line, flush=True)


args = sys.argv[1:]
last = args[-1] == "last"
if last:
    args = args[:-1]
me = int(args[0])
at_send = args.index("send")
recv_args = args[2:at_send]
drop_rate = {int(recv_args[i]): float(recv_args[i + 1]) for i in range(0, len(recv_args), 2)}
send_to = [int(p) for p in args[at_send + 1:]]
links = {n: 0.0 for n in list(drop_rate) + send_to}  # neighbour -> cost (loss rate)
table = {}
vectors = {}
lock = threading.Lock()
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", me))
started = False

# probe sender state per link, probe receiver state per link
probe = {p: {"base": 0, "next": 0, "timer": None, "sent": 0, "got": 0} for p in send_to}
expect = {p: {"expected": 0, "got": 0} for p in drop_rate}


def send(port, obj):
    sock.sendto(json.dumps(obj).encode(), ("127.0.0.1", port))


def loss_rate(s):
    return 0.0 if s["got"] == 0 else (s["sent"] - s["got"]) / float(s["got"])


def recompute():
    best = {n: (c, n) for n, c in links.items()}
    for n, vec in vectors.items():
        for dest, d in vec.items():
            if dest != me and (dest not in best or links[n] + d < best[dest][0] - 1e-9):
                best[dest] = (links[n] + d, n)
    return best


def show():
    out("%s Node %d Routing Table" % (ts(), me))
    for dest in sorted(table):
        d, hop = table[dest]
        line = "- (%s) -> Node %d" % (round(d, 2), dest)
        if hop != dest:
            line += " ; Next hop -> Node %d" % hop
        out(line)


def advertise():
    vec = {str(dest): d for dest, (d, _) in table.items()}
    for n in links:
        send(n, {"t": "dv", "from": me, "dv": vec, "cost": links[n]})
        out("%s Message sent from Node %d to Node %d" % (ts(), me, n))


def update():
    global table
    new = recompute()
    if new != table:
        table = new
        show()
        advertise()
        return True
    return False


def start():
    global started
    if started:
        return
    started = True
    for p in send_to:
        threading.Thread(target=prober, args=(p,), daemon=True).start()
    threading.Thread(target=reporter, daemon=True).start()
    update() or (show(), advertise())


def prober(port):
    s = probe[port]
    while True:
        time.sleep(PACE)
        with lock:
            now = time.time()
            if s["timer"] is not None and now >= s["timer"]:
                s["next"] = s["base"]
                s["timer"] = None
            if s["next"] < s["base"] + WINDOW:
                send(port, {"t": "probe", "from": me, "seq": s["next"]})
                s["sent"] += 1
                if s["timer"] is None:
                    s["timer"] = now + TIMEOUT
                s["next"] += 1


def reporter():
    n = 0
    while True:
        time.sleep(1)
        n += 1
        with lock:
            for p in send_to:
                s = probe[p]
                out("%s Link to %d: %d packets sent, %d packets lost, loss rate %s"
                    % (ts(), p, s["sent"], s["sent"] - s["got"], round(loss_rate(s), 2)))
            if n % 5 == 0:
                for p in send_to:
                    links[p] = round(loss_rate(probe[p]), 2)
                update() or advertise()


if last:
    with lock:
        start()
while True:
    data, _ = sock.recvfrom(65536)
    try:
        msg = json.loads(data.decode())
        n = int(msg["from"])
    except (ValueError, KeyError, TypeError):
        continue
    with lock:
        if n not in links:
            continue
        if msg.get("t") == "probe" and n in expect:
            e = expect[n]
            if random.random() < drop_rate[n]:
                continue
            e["got"] += 1
            if msg["seq"] == e["expected"]:
                e["expected"] += 1
            send(n, {"t": "ack", "from": me, "seq": e["expected"] - 1, "got": e["got"]})
        elif msg.get("t") == "ack" and n in probe:
            s = probe[n]
            s["got"] = max(s["got"], int(msg["got"]))
            if msg["seq"] + 1 > s["base"]:
                s["base"] = msg["seq"] + 1
                s["timer"] = None if s["base"] >= s["next"] else time.time() + TIMEOUT
        elif msg.get("t") == "dv":
            out("%s Message received at Node %d from Node %d" % (ts(), me, n))
            vectors[n] = {int(k): float(v) for k, v in msg["dv"].items()}
            if n in drop_rate:
                links[n] = float(msg["cost"])
            if not started:
                start()
            else:
                update()
