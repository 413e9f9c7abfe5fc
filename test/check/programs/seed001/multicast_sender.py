# A student's multicast sender for seed 001: a JSON reading and a binary blob to 224.1.1.1:5007.
import json
import socket
import struct
import time

GROUP, PORT = "224.1.1.1", 5007
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
for _ in range(3):
    msg = json.dumps({"sensor": "temp", "value": 23.5})
    sock.sendto(msg.encode(), (GROUP, PORT))
    print("Sent JSON: %s" % msg, flush=True)
    sock.sendto(struct.pack("!I4d", 42, 1.0, 2.0, 3.0, 4.0) + b"\xff\xfe\x00", (GROUP, PORT))
    print("Sent binary blob", flush=True)
    time.sleep(0.3)
