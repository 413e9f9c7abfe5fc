# A student's anycast server for seed 001: answers every TCP connection with a greeting.
# Usage: python3 server.py [--host H] [--port P]
import argparse
import socket
import threading

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="0.0.0.0")
parser.add_argument("--port", type=int, default=5000)
args = parser.parse_args()


def serve(conn):
    try:
        conn.sendall(("Hello from server %s\n" % socket.gethostname()).encode())
    except OSError:
        pass
    finally:
        conn.close()


s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((args.host, args.port))
s.listen(16)
print("[server] listening on %s:%d" % (args.host, args.port), flush=True)
while True:
    conn, _ = s.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
