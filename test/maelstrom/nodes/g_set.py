#!/usr/bin/env python3
# Maelstrom g-set by gossip: an add goes into this node's set at once; every 0.2 s the node sends
# its whole set to every other node, which merges it (a grow-only set is a CRDT: union).
from maelstrom import Node

node = Node()
elements = set()


def add(m):
    with node.lock:
        elements.add(m["body"]["element"])
    node.reply(m, {"type": "add_ok"})


def read(m):
    with node.lock:
        value = sorted(elements)
    node.reply(m, {"type": "read_ok", "value": value})


def merge(m):
    with node.lock:
        elements.update(m["body"]["value"])


def gossip():
    with node.lock:
        value = sorted(elements)
    for peer in node.node_ids:
        if peer != node.node_id:
            node.send(peer, {"type": "replicate", "value": value})


node.on("add", add)
node.on("read", read)
node.on("replicate", merge)
node.every(0.2, gossip)
node.run()
