# A student's Go-Back-N node for seed 004, written for distlab's checks. BROKEN: the receiver
# takes any packet at or after the one it expects, so a lost packet leaves a hole in the message.
# Usage: python3 gbnnode.py <self-port> <peer-port> <window-size> [-d <n> | -p <p>]
# Type `send <message>` at the node> prompt. Packets are JSON over UDP on 127.0.0.1.
import json
import random
import socket
import sys
import threading
import time

TIMEOUT = 0.5


def ts():
    return "[%.3f]" % time.time()


def out(line):
    print(line, flush=True)


self_port, peer_port, window = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
mode, value = None, None
if len(sys.argv) >= 6:
    mode = sys.argv[4]
    value = int(sys.argv[5]) if mode == "-d" else float(sys.argv[5])

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", self_port))
peer = ("127.0.0.1", peer_port)
lock = threading.Lock()

arrivals = 0


def emulate_drop():
    # Every packet this node receives (data or ACK) goes through the emulator.
    global arrivals
    arrivals += 1
    if mode == "-d":
        return arrivals % value == 0
    if mode == "-p":
        return random.random() < value
    return False


# sender state
buf, base, nxt, timer_at = [], 0, 0, None
acks_total, acks_dropped = 0, 0
# receiver state
expected, recv_total, recv_dropped = 0, 0, 0


def send_packet(seq):
    sock.sendto(json.dumps({"t": "data", "seq": seq, "c": buf[seq], "end": seq == len(buf) - 1}).encode(), peer)
    out("%s packet%d %s sent" % (ts(), seq, buf[seq]))


def fill_window():
    global nxt, timer_at
    while nxt < len(buf) and nxt < base + window:
        send_packet(nxt)
        if nxt == base:
            timer_at = time.time() + TIMEOUT
        nxt += 1


def on_data(p):
    global expected, recv_total, recv_dropped
    recv_total += 1
    if emulate_drop():
        recv_dropped += 1
        out("%s packet%d %s discarded" % (ts(), p["seq"], p["c"]))
        return
    out("%s packet%d %s received" % (ts(), p["seq"], p["c"]))
    in_order = p["seq"] >= expected
    if in_order:
        expected = p["seq"] + 1
    if expected > 0:
        sock.sendto(json.dumps({"t": "ack", "seq": expected - 1}).encode(), peer)
        out("%s ACK%d sent, expecting packet%d" % (ts(), expected - 1, expected))
    if in_order and p["end"]:
        out("[Summary] %d/%d packets discarded, loss rate = %s" % (recv_dropped, recv_total, round(recv_dropped / float(recv_total), 2)))
        recv_total, recv_dropped = 0, 0


def on_ack(p):
    global base, timer_at, acks_total, acks_dropped, buf, nxt
    acks_total += 1
    if emulate_drop():
        acks_dropped += 1
        out("%s ACK%d discarded" % (ts(), p["seq"]))
        return
    if p["seq"] < base:
        return
    base = p["seq"] + 1
    out("%s ACK%d received, window moves to %d" % (ts(), p["seq"], base))
    timer_at = time.time() + TIMEOUT if base < nxt else None
    if base >= len(buf):  # the whole message is acknowledged
        out("[Summary] %d/%d packets discarded, loss rate = %s" % (acks_dropped, acks_total, round(acks_dropped / float(acks_total), 2)))
        timer_at, acks_total, acks_dropped = None, 0, 0
        return
    fill_window()


def listen():
    while True:
        data, _ = sock.recvfrom(4096)
        try:
            p = json.loads(data.decode())
        except ValueError:
            continue
        with lock:
            if p.get("t") == "data":
                on_data(p)
            elif p.get("t") == "ack":
                on_ack(p)


def timers():
    global timer_at
    while True:
        time.sleep(0.02)
        with lock:
            if timer_at is not None and time.time() >= timer_at:
                out("%s packet%d timeout" % (ts(), base))
                timer_at = time.time() + TIMEOUT
                for seq in range(base, nxt):
                    send_packet(seq)


threading.Thread(target=listen, daemon=True).start()
threading.Thread(target=timers, daemon=True).start()
for line in sys.stdin:
    line = line.strip()
    if line.startswith("send "):
        with lock:
            # sequence numbers go on across messages, so a late duplicate is never mistaken
            buf.extend(line[5:])
            fill_window()
# stdin closed: keep serving the peer
while True:
    time.sleep(1)
