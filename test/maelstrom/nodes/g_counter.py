#!/usr/bin/env python3
# Maelstrom g-counter over seq-kv: one shared key updated by compare-and-set. A read first writes a
# key of its own, so that seq-kv shows this node a state at least as new as that write.
import itertools
from maelstrom import Node, RpcError

node = Node()
KEY = "counter"
sync = itertools.count()


def current():
    try:
        return node.rpc("seq-kv", {"type": "read", "key": KEY})["value"]
    except RpcError as e:
        if e.code == 20:
            return 0
        raise


def add(m):
    delta = m["body"]["delta"]
    while True:
        v = current()
        try:
            node.rpc("seq-kv", {"type": "cas", "key": KEY, "from": v, "to": v + delta, "create_if_not_exists": True})
            break
        except RpcError as e:
            if e.code != 22:
                raise
    node.reply(m, {"type": "add_ok"})


def read(m):
    node.rpc("seq-kv", {"type": "write", "key": f"sync-{node.node_id}", "value": next(sync)})
    node.reply(m, {"type": "read_ok", "value": current()})


node.on("add", add)
node.on("read", read)
node.run()
