#!/usr/bin/env python3
# Maelstrom lin-kv by proxy: every read, write and cas goes to the lin-kv service, whose answer
# (or error code) goes back to the client unchanged.
from maelstrom import Node, RpcError

node = Node()


def proxy(m):
    body = {k: v for k, v in m["body"].items() if k != "msg_id"}
    try:
        reply = node.rpc("lin-kv", body)
    except RpcError as e:
        node.reply(m, {"type": "error", "code": e.code, "text": str(e)})
        return
    reply = {k: v for k, v in reply.items() if k not in ("msg_id", "in_reply_to")}
    node.reply(m, reply)


for t in ("read", "write", "cas"):
    node.on(t, proxy)
node.run()
