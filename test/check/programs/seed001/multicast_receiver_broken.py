# A student's multicast receiver for seed 001: joins 224.1.1.1:5007, prints what arrives, and
# leaves the group on Ctrl-C. BROKEN: it exits on Ctrl-C without leaving the group or saying so.
import socket
import struct

GROUP, PORT = "224.1.1.1", 5007
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("", PORT))
mreq = struct.pack("4sl", socket.inet_aton(GROUP), socket.INADDR_ANY)
sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
print("Joined multicast group %s:%d" % (GROUP, PORT), flush=True)
try:
    while True:
        data, addr = sock.recvfrom(65536)
        try:
            print("Received from %s: %s" % (addr, data.decode()), flush=True)
        except UnicodeDecodeError:
            print("Received binary from %s: %d bytes" % (addr, len(data)), flush=True)
except KeyboardInterrupt:
    pass
