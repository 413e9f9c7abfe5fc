#!/usr/bin/env python3
# Maelstrom unique-ids: the node's id and a local counter make every id unique.
import itertools
from maelstrom import Node

node = Node()
counter = itertools.count()
node.on("generate", lambda m: node.reply(m, {"type": "generate_ok", "id": f"{node.node_id}-{next(counter)}"}))
node.run()
