# A seed-003 master: a coordinator the clients connect to. Every new line a client sends it is kept
# and passed on to every other client, so each client ends up with the whole text. It downloads
# nothing itself; if it dies the clients go on alone.
import argparse
import json
import socket
import threading

p = argparse.ArgumentParser()
p.add_argument("--host", required=True)
p.add_argument("--port", type=int, required=True)
a = p.parse_args()

lock = threading.Lock()
known = {}
clients = []


def serve(conn, addr):
    f = conn.makefile("rb")
    with lock:
        clients.append(conn)
        # a late client gets what is known so far
        backlog = [json.dumps([n, t]) + "\n" for n, t in known.items()]
    conn.sendall("".join(backlog).encode())
    for raw in f:
        try:
            n, text = json.loads(raw)
        except ValueError:
            continue
        with lock:
            if n in known:
                continue
            known[n] = text
            out = (json.dumps([n, text]) + "\n").encode()
            others = [c for c in clients if c is not conn]
        for c in others:
            try:
                c.sendall(out)
            except OSError:
                pass
    with lock:
        clients.remove(conn)
    print(f"client {addr} left", flush=True)


srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((a.host, a.port))
srv.listen(64)
print(f"master listening on {a.host}:{a.port}", flush=True)
while True:
    conn, addr = srv.accept()
    print(f"client {addr} joined", flush=True)
    threading.Thread(target=serve, args=(conn, addr), daemon=True).start()
