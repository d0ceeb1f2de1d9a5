"""The Python client of docs/websocket-protocol.md ("Client Examples"), run against the daemon.

The class is the document's code as written; the driver below it replaces the document's
endless ``while True`` loop with one that stops once the reply arrives.
"""

import json
import sys

import websocket
import time


class SysMedicClient:
    def __init__(self, ws_url):
        self.ws = websocket.WebSocket()
        self.ws.connect(ws_url)
        self.request_counter = 0

    def send_request(self, request_type, data=None):
        self.request_counter += 1
        request_id = f"req_{self.request_counter}_{int(time.time())}"

        request = {
            "type": request_type,
            "request_id": request_id,
            "data": data
        }

        self.ws.send(json.dumps(request))
        return request_id

    def receive_response(self):
        response = self.ws.recv()
        return json.loads(response)


# Usage (the document's, bounded)
client = SysMedicClient(sys.argv[1])
request_id = client.send_request('get_system_info')

for _ in range(50):
    message = client.receive_response()
    print(f"Received: {json.dumps(message)}")
    if message.get("request_id") == request_id:
        break
