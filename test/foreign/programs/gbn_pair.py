# A small Go-Back-N pair in the shapes seed 004's students use, for distlab's relay decoding tests.
# Usage: python3 gbn_pair.py <tcp-port> <udp-port> <send|recv> [json|binary]
#   json:   {"t": "data", "seq": n, "c": ch, "end": bool}, {"t": "ack", "seq": n},
#           {"from": port, "dv": {port: distance}}
#   binary: the course packet (magic 0x67, version 1, type, flags, seq, tx, aux, length, payload,
#           CRC-32), DATA / ACK / DV with a distance-vector payload.
# The sender sends "hello distlab" to the bootstrap (DISTLAB_BOOTSTRAP's host, at <udp-port>) again
# and again (window 3, timeout 0.3 s) and a distance vector after each message; the receiver
# answers each peer at the datagram's source, in the format it came in, and prints "received
# <message> from <address>:<port>". A TCP listener on <tcp-port> tells `distlab run` it is up.
import json
import os
import socket
import struct
import sys
import threading
import time
import zlib
from urllib.parse import urlparse

tcp_port, udp_port, role = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
fmt = sys.argv[4] if len(sys.argv) > 4 else "json"  # the receiver answers in the format it got
tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("0.0.0.0", tcp_port))
tcp.listen(16)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("0.0.0.0", udp_port))
TYPES = {"data": 1, "ack": 2, "dv": 3}


def course(kind, seq, payload=b"", flags=0):
    head = struct.pack(">BBBBIIIH", 0x67, 0x10 | TYPES[kind], flags, 0, seq, 0, 0, len(payload)) + payload
    return head + struct.pack(">I", zlib.crc32(head) & 0xFFFFFFFF)


def encode(kind, seq=0, ch="", end=False, vector=None, fmt=fmt):
    if fmt == "json":
        if kind == "dv":
            return json.dumps({"from": udp_port, "dv": {str(k): v for k, v in vector.items()}}).encode()
        if kind == "ack":
            return json.dumps({"t": "ack", "seq": seq}).encode()
        return json.dumps({"t": "data", "seq": seq, "c": ch, "end": end}).encode()
    if kind == "dv":
        body = struct.pack(">dH", float("nan"), len(vector))
        for k, v in vector.items():
            body += struct.pack(">Hd", k, v)
        return course("dv", seq, body)
    if kind == "ack":
        return course("ack", seq)
    return course("data", seq, ch.encode(), 1 if end else 0)


def decode(data):
    if data[:1] != b"\x67":
        p = json.loads(data.decode())
        return p.get("t", "dv"), p.get("seq", 0), p.get("c", ""), p.get("end", False)
    if len(data) < 22 or data[0] != 0x67:
        raise ValueError("not a course packet")
    magic, vt, flags, _, seq, _, _, length = struct.unpack(">BBBBIIIH", data[:18])
    if zlib.crc32(data[: 18 + length]) & 0xFFFFFFFF != struct.unpack(">I", data[18 + length : 22 + length])[0]:
        raise ValueError("bad CRC")
    kind = {1: "data", 2: "ack", 3: "dv"}.get(vt & 0x0F, "?")
    return kind, seq, data[18 : 18 + length].decode("latin1"), bool(flags & 1)


def receiver():
    # Peers are told apart by the source address and port of their datagrams.
    peers = {}
    while True:
        data, addr = sock.recvfrom(4096)
        try:
            kind, seq, ch, end = decode(data)
        except (ValueError, KeyError, AttributeError, struct.error):
            print("garbled datagram from %s:%d" % addr, flush=True)
            continue
        if kind != "data":
            continue
        if addr not in peers and len(peers) < 64:
            peers[addr] = {"expected": 0, "text": ""}
            print("new peer %s:%d" % addr, flush=True)
        st = peers.get(addr)
        if st is None:
            continue
        if seq == st["expected"]:
            st["expected"] += 1
            st["text"] += ch
            if end:
                print("received %s from %s:%d" % (st["text"], addr[0], addr[1]), flush=True)
                st["text"] = ""
        if st["expected"] > 0:
            sock.sendto(encode("ack", st["expected"] - 1, fmt="binary" if data[:1] == b"\x67" else "json"), addr)


def sender():
    server = urlparse(os.environ["DISTLAB_BOOTSTRAP"])
    peer = (server.hostname, udp_port)  # the receiver uses the same UDP port
    lock = threading.Lock()
    state = {"base": 0}

    def acks():
        while True:
            data, _ = sock.recvfrom(4096)
            try:
                kind, seq, _, _ = decode(data)
            except (ValueError, KeyError, AttributeError, struct.error):
                continue
            if kind == "ack":
                with lock:
                    state["base"] = max(state["base"], seq + 1)

    threading.Thread(target=acks, daemon=True).start()
    message, start = "hello distlab", 0
    for round_ in range(3000):  # at most ~15 minutes
        end = start + len(message)
        nxt, deadline = start, 0.0
        while True:
            with lock:
                base = state["base"]
            if base >= end:
                break
            if time.time() >= deadline:
                nxt, deadline = base, time.time() + 0.3
            while nxt < min(base + 3, end):
                sock.sendto(encode("data", nxt, message[nxt - start], nxt == end - 1), peer)
                nxt += 1
            time.sleep(0.01)
        print("[Summary] message %d delivered" % round_, flush=True)
        sock.sendto(encode("dv", round_, vector={udp_port: 0.0, udp_port + 1: 1.0}), peer)
        start = end
        time.sleep(0.2)


(receiver if role == "recv" else sender)()
