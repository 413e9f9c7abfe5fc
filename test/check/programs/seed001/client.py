# A student's anycast client for seed 001: connects to one of the servers and prints the greeting.
# Usage: python3 client.py --servers host:port,host:port,...
import argparse
import random
import socket
import time

parser = argparse.ArgumentParser()
parser.add_argument("--servers", default="server:5000")
parser.add_argument("--count", type=int, default=3)
args = parser.parse_args()
servers = [(h, int(p)) for h, p in (x.rsplit(":", 1) for x in args.servers.split(","))]

for _ in range(args.count):
    host, port = random.choice(servers)
    with socket.create_connection((host, port), timeout=5) as c:
        print("Received: %s" % c.recv(1024).decode().strip(), flush=True)
    time.sleep(0.2)
