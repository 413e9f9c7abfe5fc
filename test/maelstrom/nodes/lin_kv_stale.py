#!/usr/bin/env python3
# A broken lin-kv node: writes and cas go to lin-kv, but reads are answered from this node's own
# copy of what it last wrote or read, a stale replica as soon as another node writes.
from maelstrom import Node, RpcError

node = Node()
replica = {}


def read(m):
    key = m["body"]["key"]
    if key not in replica:
        try:
            replica[key] = node.rpc("lin-kv", {"type": "read", "key": key})["value"]
        except RpcError as e:
            node.reply(m, {"type": "error", "code": e.code, "text": str(e)})
            return
    node.reply(m, {"type": "read_ok", "value": replica[key]})


def write(m):
    b = m["body"]
    node.rpc("lin-kv", {"type": "write", "key": b["key"], "value": b["value"]})
    replica[b["key"]] = b["value"]
    node.reply(m, {"type": "write_ok"})


def cas(m):
    b = m["body"]
    try:
        node.rpc("lin-kv", {"type": "cas", "key": b["key"], "from": b["from"], "to": b["to"]})
    except RpcError as e:
        node.reply(m, {"type": "error", "code": e.code, "text": str(e)})
        return
    replica[b["key"]] = b["to"]
    node.reply(m, {"type": "cas_ok"})


node.on("read", read)
node.on("write", write)
node.on("cas", cas)
node.run()
