#!/usr/bin/env python3
# Maelstrom kafka as a single-node log: n0 holds every key's log in memory and hands out offsets;
# the other nodes forward send and poll to n0. Committed offsets live in lin-kv (a key per log, only
# ever raised, by compare-and-set), so any node answers commit_offsets and list_committed_offsets.
#
# --lose-every K (a deliberately broken node): n0 acknowledges every K-th send with an offset but
# never stores the message, so polls skip that offset and the write is lost.
import sys
from maelstrom import Node, RpcError

node = Node()
logs = {}  # key -> {offset: msg}
next_offset = {}  # key -> next offset to hand out
lose_every = int(sys.argv[sys.argv.index("--lose-every") + 1]) if "--lose-every" in sys.argv else 0
sends = 0
POLL_MAX = 50


def leader():
    return node.node_ids[0]


def forward(m):
    body = {k: v for k, v in m["body"].items() if k != "msg_id"}
    try:
        reply = node.rpc(leader(), body, timeout=2.0)
    except RpcError as e:
        node.reply(m, {"type": "error", "code": e.code, "text": str(e)})
        return
    node.reply(m, {k: v for k, v in reply.items() if k not in ("msg_id", "in_reply_to")})


def send(m):
    global sends
    if node.node_id != leader():
        return forward(m)
    key, msg = m["body"]["key"], m["body"]["msg"]
    with node.lock:
        offset = next_offset.get(key, 0)
        next_offset[key] = offset + 1
        sends += 1
        if not (lose_every and sends % lose_every == 0):
            logs.setdefault(key, {})[offset] = msg
    node.reply(m, {"type": "send_ok", "offset": offset})


def poll(m):
    if node.node_id != leader():
        return forward(m)
    msgs = {}
    with node.lock:
        for key, start in m["body"]["offsets"].items():
            log = logs.get(key, {})
            out = []
            for o in range(start, next_offset.get(key, 0)):
                if o in log:
                    out.append([o, log[o]])
                if len(out) >= POLL_MAX:
                    break
            msgs[key] = out
    node.reply(m, {"type": "poll_ok", "msgs": msgs})


def committed(key):
    try:
        return node.rpc("lin-kv", {"type": "read", "key": f"committed-{key}"})["value"]
    except RpcError as e:
        if e.code == 20:
            return None
        raise


def commit_offsets(m):
    for key, offset in m["body"]["offsets"].items():
        while True:
            cur = committed(key)
            if cur is not None and cur >= offset:
                break
            try:
                node.rpc(
                    "lin-kv",
                    {"type": "cas", "key": f"committed-{key}", "from": cur, "to": offset, "create_if_not_exists": True},
                )
                break
            except RpcError as e:
                if e.code != 22:
                    raise
    node.reply(m, {"type": "commit_offsets_ok"})


def list_committed_offsets(m):
    offsets = {}
    for key in m["body"]["keys"]:
        v = committed(key)
        if v is not None:
            offsets[key] = v
    node.reply(m, {"type": "list_committed_offsets_ok", "offsets": offsets})


node.on("send", send)
node.on("poll", poll)
node.on("commit_offsets", commit_offsets)
node.on("list_committed_offsets", list_committed_offsets)
node.run()
