#!/usr/bin/env python3
# Maelstrom txn-rw-register and txn-list-append with one leader: n0 runs every transaction, one at a
# time under a lock, on its in-memory store (a total order: serializable, and strict since each
# runs between its request and its reply); the other nodes forward transactions to n0.
#
# --leak-aborts K (a deliberately broken node): every K-th transaction that writes applies its
# writes and then answers error 30 (txn-conflict, a definite abort), so later reads see values
# written by an aborted transaction (G1a, aborted read).
import sys
from maelstrom import Node, RpcError

node = Node()
store = {}
leak_every = int(sys.argv[sys.argv.index("--leak-aborts") + 1]) if "--leak-aborts" in sys.argv else 0
writers = 0


def txn(m):
    global writers
    if node.node_id != node.node_ids[0]:
        body = {k: v for k, v in m["body"].items() if k != "msg_id"}
        try:
            reply = node.rpc(node.node_ids[0], body, timeout=2.0)
        except RpcError as e:
            node.reply(m, {"type": "error", "code": e.code, "text": str(e)})
            return
        node.reply(m, {k: v for k, v in reply.items() if k not in ("msg_id", "in_reply_to")})
        return
    out = []
    with node.lock:
        for f, k, v in m["body"]["txn"]:
            key = str(k)
            if f == "r":
                cur = store.get(key)
                out.append([f, k, list(cur) if isinstance(cur, list) else cur])
            elif f == "w":
                store[key] = v
                out.append([f, k, v])
            elif f == "append":
                store.setdefault(key, []).append(v)
                out.append([f, k, v])
        wrote = any(f != "r" for f, _, _ in m["body"]["txn"])
        if wrote:
            writers += 1
        leak = leak_every and wrote and writers % leak_every == 0
    if leak:
        node.reply(m, {"type": "error", "code": 30, "text": "txn-conflict (but its writes stay)"})
    else:
        node.reply(m, {"type": "txn_ok", "txn": out})


node.on("txn", txn)
node.run()
