#!/usr/bin/env python3
# A broken Maelstrom broadcast node: it keeps what it is sent and never tells the other nodes.
from maelstrom import Node

node = Node()
values = set()
node.on("topology", lambda m: node.reply(m, {"type": "topology_ok"}))


def broadcast(m):
    values.add(m["body"]["message"])
    node.reply(m, {"type": "broadcast_ok"})


node.on("broadcast", broadcast)
node.on("read", lambda m: node.reply(m, {"type": "read_ok", "messages": sorted(values)}))
node.run()
