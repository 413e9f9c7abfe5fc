# A seed-002 bootstrap registry, written for distlab's tests: POST /register {"url"} (or {"peer"}),
# GET /peers. Flask from Debian's python3-flask.
import os
import sys
import threading
from flask import Flask, jsonify, request

app = Flask(__name__)
peers = []
lock = threading.Lock()


@app.route("/")
def index():
    return jsonify({"message": "Bootstrap is running!"})


@app.route("/register", methods=["POST"])
def register():
    body = request.get_json(silent=True) or {}
    url = body.get("url") or body.get("peer")
    if not isinstance(url, str):
        return jsonify({"error": "url missing"}), 400
    with lock:
        if url not in peers:
            peers.append(url)
    print(f"registered {url}", flush=True)
    return jsonify({"status": "registered", "peers": peers})


@app.route("/peers")
def list_peers():
    with lock:
        return jsonify({"peers": list(peers)})


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("DISTLAB_PORT", "5000"))
    app.run(host="0.0.0.0", port=port, threaded=True)
