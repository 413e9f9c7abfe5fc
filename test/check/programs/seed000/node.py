# A seed-000 node: listens for JSON datagrams on UDP host:port, prints each message it gets, and
# forwards a broadcast down its part of the tree (children 2k+2 and 2k+3 of node k in the list).
import argparse
import json
import socket

p = argparse.ArgumentParser()
p.add_argument("--host", required=True)
p.add_argument("--port", type=int, required=True)
p.add_argument("--name", required=True)
a = p.parse_args()

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((a.host, a.port))
print(f"{a.name} listening on {a.host}:{a.port}", flush=True)

while True:
    data, addr = sock.recvfrom(65535)
    try:
        m = json.loads(data.decode())
        kind = m["kind"]
        msg = m["msg"]
    except (ValueError, KeyError, UnicodeDecodeError):
        print(f"{a.name} dropped a bad datagram from {addr}", flush=True)
        continue
    group = m.get("group")
    if group is not None and a.name not in group:
        continue  # a multicast for others
    print(f"{a.name} received {kind}: {msg}", flush=True)
    if kind == "broadcast":
        nodes = m["nodes"]
        me = m["index"]
        for child in (2 * me + 2, 2 * me + 3):
            if child < len(nodes):
                host, port = nodes[child].rsplit(":", 1)
                fwd = dict(m, index=child)
                sock.sendto(json.dumps(fwd).encode(), (host, int(port)))
