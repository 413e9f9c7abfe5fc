# A TCP server that answers only after its client half-closes: it reads to EOF, then writes one
# line and closes. Used to leave relayed connections half-open (the client's FIN forwarded, the
# answer and the server's FIN still held by a link delay). Usage: tcp_eof_server.py PORT
import socket
import sys
import threading

port = int(sys.argv[1])
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", port))
srv.listen(64)


def serve(conn):
    try:
        while conn.recv(4096):
            pass
        print("eof", flush=True)
        conn.sendall(b"done\n")
    finally:
        conn.close()


while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
