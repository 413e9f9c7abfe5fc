# A subtly broken seed-000 master (the multicast goes to every node, which filter it): reads commands on stdin and sends JSON datagrams over UDP.
#   broadcast <msg>          down a binary tree: the master sends to the first two nodes, each node
#                            forwards to its two children, so each node gets it exactly once
#   unicast <node> <msg>     to that node only
#   multicast <a,b> <msg>    to each member of the group only
import argparse
import json
import socket
import sys

p = argparse.ArgumentParser()
p.add_argument("--host", required=True)
p.add_argument("--port", type=int, required=True)
p.add_argument("--nodes", required=True, help="host:port of node1..nodeN, comma-separated")
a = p.parse_args()

nodes = a.nodes.split(",")
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((a.host, a.port))
print(f"master on {a.host}:{a.port} with {len(nodes)} nodes", flush=True)


def send(index, m):
    host, port = nodes[index].rsplit(":", 1)
    sock.sendto(json.dumps(m).encode(), (host, int(port)))


def index_of(name):
    return int(name.replace("node", "")) - 1


def multicast(group, msg):
    # every node gets it; those not in the group drop it (on the wire, everyone still receives it)
    for i in range(len(nodes)):
        send(i, {"kind": "multicast", "msg": msg, "group": group})


for line in sys.stdin:
    parts = line.strip().split(" ", 2)
    if not parts or not parts[0]:
        continue
    if parts[0] == "broadcast" and len(parts) >= 2:
        msg = " ".join(parts[1:])
        for child in (0, 1):
            if child < len(nodes):
                send(child, {"kind": "broadcast", "msg": msg, "nodes": nodes, "index": child})
    elif parts[0] == "unicast" and len(parts) == 3:
        send(index_of(parts[1]), {"kind": "unicast", "msg": parts[2]})
    elif parts[0] == "multicast" and len(parts) == 3:
        multicast(parts[1].split(","), parts[2])
    else:
        print(f"unknown command: {line.strip()}", flush=True)
        continue
    print(f"master sent {parts[0]}", flush=True)
