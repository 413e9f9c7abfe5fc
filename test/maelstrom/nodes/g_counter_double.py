#!/usr/bin/env python3
# A broken g-counter: like g_counter.py, but every add is applied twice (a retry that is not
# idempotent), so the counter runs ahead of what the clients added.
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
            node.rpc("seq-kv", {"type": "cas", "key": KEY, "from": v, "to": v + 2 * delta, "create_if_not_exists": True})
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
