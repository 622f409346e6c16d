#!/usr/bin/env python3
"""Stand-ins for Glance and Neutron: the few calls nova-api makes on boot, list and
evacuate of servers with "networks": "none" (the lab has neither service).

    standins.py ADDRESS GLANCE_PORT NEUTRON_PORT
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

IMAGE = "11111111-2222-3333-4444-555555555555"
#: An image tagged the fence_evacuate way: property evacuable=true.
EVACUABLE_IMAGE = "22222222-3333-4444-5555-666666666666"


def image(addr, port, id=IMAGE):
    extra = {"evacuable": "true"} if id == EVACUABLE_IMAGE else {}
    return {**extra, "id": id, "name": "lab-image" if id == IMAGE else "lab-image-evacuable", "status": "active", "visibility": "public", "protected": False,
            "disk_format": "raw", "container_format": "bare", "size": 1048576, "virtual_size": 1048576,
            "min_disk": 0, "min_ram": 0, "owner": None, "tags": [], "os_hidden": False,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "self": f"/v2/images/{id}", "file": f"/v2/images/{id}/file", "schema": "/v2/schemas/image"}


def handler(kind, addr, port):
    class H(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            sys.stderr.write(f"{kind}: {self.command} {self.path}\n")

        def reply(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            path = self.path.split("?")[0].rstrip("/")
            base = f"http://{addr}:{port}"
            if kind == "glance":
                if path in ("", "/versions"):
                    return self.reply(200, {"versions": [{"id": "v2.16", "status": "CURRENT",
                                                          "links": [{"rel": "self", "href": f"{base}/v2/"}]}]})
                if path == "/v2/schemas/image":
                    props = {k: {} for k in image(addr, port)}
                    return self.reply(200, {"name": "image", "properties": props, "additionalProperties": {"type": "string"}})
                for i in (IMAGE, EVACUABLE_IMAGE):
                    if path == f"/v2/images/{i}":
                        return self.reply(200, image(addr, port, i))
                if path == "/v2/images":
                    return self.reply(200, {"images": [image(addr, port, i) for i in (IMAGE, EVACUABLE_IMAGE)]})
                return self.reply(404, {"message": f"no {path}"})
            if path in ("", "/v2.0"):
                return self.reply(200, {"versions": [{"id": "v2.0", "status": "CURRENT",
                                                      "links": [{"rel": "self", "href": f"{base}/v2.0/"}]}]})
            name = path.split("/")[-1]
            if name in ("ports", "networks", "extensions", "security-groups", "floatingips", "subnets", "qos/policies"):
                return self.reply(200, {name.replace("-", "_"): []})
            return self.reply(404, {"NeutronError": {"message": f"no {path}"}})

        def do_POST(self):
            self.reply(404, {"message": "the lab stand-in does not create anything"})

        do_PUT = do_DELETE = do_POST

    return H


def main():
    addr, gport, nport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    servers = [ThreadingHTTPServer((addr, gport), handler("glance", addr, gport)),
               ThreadingHTTPServer((addr, nport), handler("neutron", addr, nport))]
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
