#!/usr/bin/env python3
# Maelstrom pn-counter by gossip: a PN-counter CRDT. Each node counts its own increments (P) and
# decrements (N); every 0.2 s it sends both maps to every other node, which keeps the larger count
# per node. A read is the sum of P minus the sum of N.
from maelstrom import Node

node = Node()
inc = {}
dec = {}


def add(m):
    delta = m["body"]["delta"]
    with node.lock:
        side = inc if delta >= 0 else dec
        side[node.node_id] = side.get(node.node_id, 0) + abs(delta)
    node.reply(m, {"type": "add_ok"})


def read(m):
    with node.lock:
        value = sum(inc.values()) - sum(dec.values())
    node.reply(m, {"type": "read_ok", "value": value})


def merge(m):
    with node.lock:
        for mine, theirs in ((inc, m["body"]["inc"]), (dec, m["body"]["dec"])):
            for k, v in theirs.items():
                if v > mine.get(k, 0):
                    mine[k] = v


def gossip():
    if node.node_id is None:
        return
    with node.lock:
        body = {"type": "replicate", "inc": dict(inc), "dec": dict(dec)}
    for peer in node.node_ids:
        if peer != node.node_id:
            node.send(peer, body)


node.on("add", add)
node.on("read", read)
node.on("replicate", merge)
node.every(0.2, gossip)
node.run()
