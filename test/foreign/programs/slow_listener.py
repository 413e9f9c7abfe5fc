# A TCP server on $DISTLAB_HOST:$DISTLAB_PORT that says when it began to listen. The instance named
# $SLOW_NAME waits $SLOW_SECONDS first: a program slow to come up, while a cluster starts.
import os
import socket
import time

if os.environ["DISTLAB_NAME"] == os.environ.get("SLOW_NAME"):
    time.sleep(float(os.environ.get("SLOW_SECONDS", "5")))
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((os.environ["DISTLAB_HOST"], int(os.environ["DISTLAB_PORT"])))
srv.listen(16)
print(f"listening at {time.time():.3f}", flush=True)
while True:
    conn, _ = srv.accept()
    conn.close()
