# A seed-003 client: fetches random lines from the line server at its own address, shares each new
# one through the master and takes the others' from it. Client 1 submits once it holds every line.
# If the master goes away the client keeps downloading alone, so the text still gets submitted.
import argparse
import json
import socket
import threading
import time

p = argparse.ArgumentParser()
p.add_argument("--host", required=True, help="the address to fetch from (this client's own)")
p.add_argument("--server", required=True)
p.add_argument("--master", default="")
p.add_argument("--lines", type=int, required=True)
p.add_argument("--index", type=int, required=True)
a = p.parse_args()

lock = threading.Lock()
lines = {}
done = threading.Event()
master = None


def add(n, text):
    with lock:
        if n in lines:
            return False
        lines[n] = text
        if len(lines) >= a.lines:
            done.set()
        return True


def from_master(sock):
    global master
    try:
        for raw in sock.makefile("rb"):
            n, text = json.loads(raw)
            add(n, text)
    except (OSError, ValueError):
        pass
    master = None
    if not done.is_set():
        print(f"client{a.index}: lost the master, going on alone", flush=True)


if a.master:
    mhost, mport = a.master.rsplit(":", 1)
    for _ in range(50):
        try:
            master = socket.create_connection((mhost, int(mport)), source_address=(a.host, 0))
            break
        except OSError:
            time.sleep(0.1)
    if master:
        threading.Thread(target=from_master, args=(master,), daemon=True).start()

shost, sport = a.server.rsplit(":", 1)
srv = socket.create_connection((shost, int(sport)), source_address=(a.host, 0))
f = srv.makefile("rb")
while not done.is_set():
    srv.sendall(b"SENDLINE\n")
    n = int(f.readline().strip())
    text = f.readline().decode().rstrip("\n")
    if n < 0:
        time.sleep(0.004)
        continue
    if add(n, text) and master is not None:
        try:
            master.sendall((json.dumps([n, text]) + "\n").encode())
        except OSError:
            master = None


def pairs(held):
    return "".join(f"{n}\n{held[n]}\n" for n in sorted(held))


if a.index == 1:
    with lock:
        held = dict(lines)
    srv.sendall(f"SUBMIT\nteam@distlab-check\n{len(held)}\n{pairs(held)}".encode())
    print(f.readline().decode().strip(), flush=True)
srv.close()
