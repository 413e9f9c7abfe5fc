# A student's P2P node for seed 002, written for distlab's checks: Flask, a UUID, registration with
# the bootstrap, /peers, /message, and discovery by asking peers for their peers every second.
# Usage: python3 node.py --host H --port P --bootstrap URL
import argparse
import json
import threading
import time
import urllib.request
import uuid

from flask import Flask, jsonify, request

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="0.0.0.0")
parser.add_argument("--port", type=int, default=5000)
parser.add_argument("--bootstrap", default="http://bootstrap:5000")
parser.add_argument("--interval", type=float, default=1.0)
args = parser.parse_args()

app = Flask(__name__)
node_id = str(uuid.uuid4())
self_url = "http://%s:%d" % (args.host, args.port)
peers = set()
lock = threading.Lock()


def call(url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=2) as res:
        return json.loads(res.read().decode() or "null")


def add_peer(url):
    if isinstance(url, str) and url.startswith("http") and url.rstrip("/") != self_url:
        with lock:
            peers.add(url.rstrip("/"))


@app.route("/")
def home():
    return jsonify({"message": "Node %s is running!" % node_id})


@app.route("/register", methods=["POST"])
def register():
    body = request.get_json(silent=True) or {}
    url = body.get("url") or body.get("peer") if isinstance(body, dict) else None
    if not isinstance(url, str):
        return jsonify({"error": "give url"}), 400
    add_peer(url)
    return jsonify({"status": "registered"})


@app.route("/peers")
def get_peers():
    with lock:
        return jsonify({"peers": sorted(peers)})


@app.route("/message", methods=["POST"])
def message():
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or "sender" not in body or "msg" not in body:
        return jsonify({"error": "give sender and msg"}), 400
    print("Received message from %s: %s" % (body["sender"], body["msg"]), flush=True)
    return jsonify({"status": "received"})


def discover():
    # First the bootstrap; afterwards the peers themselves, so the bootstrap can go away.
    while True:
        try:
            call(args.bootstrap + "/register", {"url": self_url})
            for p in call(args.bootstrap + "/peers").get("peers", []):
                add_peer(p)
            break
        except Exception:
            time.sleep(0.3)
    while True:
        with lock:
            known = list(peers)
        for p in known:
            try:
                call(p + "/register", {"url": self_url})
                for q in call(p + "/peers").get("peers", []):
                    add_peer(q)
            except Exception:
                pass
        time.sleep(args.interval)


threading.Thread(target=discover, daemon=True).start()
app.run(host=args.host, port=args.port, threaded=True)
