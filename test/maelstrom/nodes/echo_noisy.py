#!/usr/bin/env python3
# An echo node that also prints garbage on stdout (what a stray debug print does): distlab must
# count those lines as malformed and keep running.
import json
import sys

node_id = None
n = 0
for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    n += 1
    print("debug: got a message", flush=True)
    print('{"src": "n0", "body": [1, 2', flush=True)
    print('{"src": "n0", "dest": "c1", "body": {"type": "echo_ok", "a": ' + "[" * 5000 + "]" * 5000 + "}}", flush=True)
    if body["type"] == "init":
        node_id = body["node_id"]
        out = {"type": "init_ok", "in_reply_to": body["msg_id"]}
    elif body["type"] == "echo":
        out = {"type": "echo_ok", "echo": body["echo"], "in_reply_to": body["msg_id"], "msg_id": n}
    else:
        continue
    print(json.dumps({"src": node_id, "dest": msg["src"], "body": out}), flush=True)
