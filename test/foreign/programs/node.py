# A seed-002 node, written for distlab's tests: GET / names its UUID, POST /message logs
# "Received message from <sender>: <msg>", it registers with the bootstrap given in
# DISTLAB_BOOTSTRAP and, every PERIOD seconds, sends a message to every peer the bootstrap lists.
import os
import sys
import threading
import time
import uuid
import json
import urllib.request
from flask import Flask, jsonify, request

app = Flask(__name__)
node_id = str(uuid.uuid4())
name = os.environ.get("DISTLAB_NAME", "node")
host = os.environ.get("DISTLAB_HOST", "127.0.0.1")
port = int(os.environ.get("DISTLAB_PORT", "5000"))
bootstrap = os.environ.get("DISTLAB_BOOTSTRAP", "")
period = float(os.environ.get("PERIOD", "0.5"))
me = f"http://{host}:{port}"


@app.route("/")
def index():
    return jsonify({"message": f"Node {node_id} is running!"})


@app.route("/message", methods=["POST"])
def message():
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or "sender" not in body or "msg" not in body:
        return jsonify({"error": "sender and msg required"}), 400
    print(f"Received message from {body['sender']}: {body['msg']}", flush=True)
    return jsonify({"status": "received"})


def post(url, body, timeout=2):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def get(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def gossip():
    registered = False
    n = 0
    while True:
        try:
            if bootstrap and not registered:
                post(bootstrap + "/register", {"url": me})
                registered = True
                print(f"registered with {bootstrap}", flush=True)
            if bootstrap:
                for p in get(bootstrap + "/peers").get("peers", []):
                    if p == me:
                        continue
                    n += 1
                    try:
                        post(p + "/message", {"sender": name, "msg": f"hello {n}"})
                    except Exception as e:
                        print(f"send to {p} failed: {e}", flush=True)
        except Exception as e:
            print(f"bootstrap unreachable: {e}", flush=True)
        time.sleep(period)


if __name__ == "__main__":
    threading.Thread(target=gossip, daemon=True).start()
    app.run(host="0.0.0.0", port=port, threaded=True)
