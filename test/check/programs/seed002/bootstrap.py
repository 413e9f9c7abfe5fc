# A student's bootstrap registry for seed 002: POST /register, GET /peers.
# Usage: python3 bootstrap.py --host H --port P
import argparse
import threading

from flask import Flask, jsonify, request

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="0.0.0.0")
parser.add_argument("--port", type=int, default=5000)
args = parser.parse_args()

app = Flask(__name__)
peers = []
lock = threading.Lock()


@app.route("/register", methods=["POST"])
def register():
    body = request.get_json(silent=True) or {}
    url = (body.get("url") or body.get("peer")) if isinstance(body, dict) else None
    if not isinstance(url, str):
        return jsonify({"error": "give url"}), 400
    with lock:
        if url not in peers:
            peers.append(url)
    print("Registered %s" % url, flush=True)
    return jsonify({"status": "registered"})


@app.route("/peers")
def get_peers():
    with lock:
        return jsonify({"peers": list(peers)})


app.run(host=args.host, port=args.port, threaded=True)
