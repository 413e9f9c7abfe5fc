#!/usr/bin/env python3
# Maelstrom broadcast: every value reaches every node. Each node gossips the values a neighbour has
# not yet acknowledged to its topology neighbours a few times a second, so values cross partitions
# once they heal.
import threading
from maelstrom import Node

node = Node()
values = set()
neighbours = []
unacked = {}  # neighbour -> values it has not acknowledged
lock = threading.Lock()


def learn(vs):
    with lock:
        for v in vs:
            if v not in values:
                values.add(v)
                for n in neighbours:
                    unacked.setdefault(n, set()).add(v)


def topology(m):
    with lock:
        neighbours[:] = m["body"]["topology"].get(node.node_id, [])
        for n in neighbours:
            unacked.setdefault(n, set()).update(values)
    node.reply(m, {"type": "topology_ok"})


def broadcast(m):
    learn([m["body"]["message"]])
    node.reply(m, {"type": "broadcast_ok"})


def read(m):
    with lock:
        vs = sorted(values)
    node.reply(m, {"type": "read_ok", "messages": vs})


def gossip(m):
    learn(m["body"]["messages"])
    node.reply(m, {"type": "gossip_ok", "messages": m["body"]["messages"]})


def push():
    with lock:
        batches = [(n, sorted(vs)) for n, vs in unacked.items() if vs]
    for n, vs in batches:
        def acked(reply_vs, n=n):
            with lock:
                unacked.get(n, set()).difference_update(reply_vs)

        def send(n=n, vs=vs):
            try:
                acked(node.rpc(n, {"type": "gossip", "messages": vs}, timeout=1.0)["messages"])
            except Exception:
                pass  # resent next round

        threading.Thread(target=send, daemon=True).start()


node.on("topology", topology)
node.on("broadcast", broadcast)
node.on("read", read)
node.on("gossip", gossip)
node.every(0.2, push)
node.run()
