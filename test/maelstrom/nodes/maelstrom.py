# A small Maelstrom node library for distlab's test nodes (Python 3, standard library only):
# handlers run on their own threads, so a handler may call rpc() and wait for the reply.
import json
import sys
import threading


class RpcError(Exception):
    def __init__(self, body):
        super().__init__(body.get("text", ""))
        self.code = body.get("code")


class Node:
    def __init__(self):
        self.node_id = None
        self.node_ids = []
        self.handlers = {}
        self.callbacks = {}
        self.next_msg_id = 0
        self.lock = threading.RLock()
        self.out = threading.Lock()
        self.on_init = None

    def on(self, type_, fn):
        self.handlers[type_] = fn

    def send(self, dest, body):
        with self.out:
            sys.stdout.write(json.dumps({"src": self.node_id, "dest": dest, "body": body}) + "\n")
            sys.stdout.flush()

    def reply(self, req, body):
        body = dict(body)
        body["in_reply_to"] = req["body"].get("msg_id")
        self.send(req["src"], body)

    def rpc(self, dest, body, timeout=4.0):
        """Sends a request and waits for its reply; raises RpcError on an error reply or TimeoutError."""
        done = threading.Event()
        box = {}
        with self.lock:
            self.next_msg_id += 1
            msg_id = self.next_msg_id
            self.callbacks[msg_id] = lambda m: (box.update(m=m), done.set())
        body = dict(body)
        body["msg_id"] = msg_id
        self.send(dest, body)
        if not done.wait(timeout):
            with self.lock:
                self.callbacks.pop(msg_id, None)
            raise TimeoutError(dest)
        reply = box["m"]["body"]
        if reply.get("type") == "error":
            raise RpcError(reply)
        return reply

    def every(self, seconds, fn):
        def loop():
            while True:
                threading.Event().wait(seconds)
                try:
                    fn()
                except Exception as e:  # a periodic task must keep going
                    print(f"periodic task failed: {e}", file=sys.stderr, flush=True)

        threading.Thread(target=loop, daemon=True).start()

    def _dispatch(self, msg):
        body = msg["body"]
        irt = body.get("in_reply_to")
        if irt is not None:
            with self.lock:
                cb = self.callbacks.pop(irt, None)
            if cb:
                cb(msg)
            return
        if body["type"] == "init":
            self.node_id = body["node_id"]
            self.node_ids = body["node_ids"]
            if self.on_init:
                self.on_init()
            self.reply(msg, {"type": "init_ok"})
            return
        fn = self.handlers.get(body["type"])
        if fn is None:
            self.reply(msg, {"type": "error", "code": 10, "text": "not supported"})
            return

        def run():
            try:
                fn(msg)
            except Exception as e:
                print(f"handler failed: {e}", file=sys.stderr, flush=True)
                self.reply(msg, {"type": "error", "code": 13, "text": str(e)})

        threading.Thread(target=run, daemon=True).start()

    def run(self):
        for line in sys.stdin:
            if line.strip():
                self._dispatch(json.loads(line))
