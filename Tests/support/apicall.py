#!/usr/bin/env python3
"""One HTTP call to Lifeboat's API, run inside a lab host's namespace (`lab exec HOST
python3 apicall.py ...`): prints {"status", "headers", "body"} as JSON.

    apicall.py METHOD URL [--body JSON] [--token T] [--version X.Y]
"""
import json
import sys
import urllib.error
import urllib.request


def main(argv):
    method, url = argv[0], argv[1]
    body = token = version = None
    rest = argv[2:]
    while rest:
        flag, value = rest[0], rest[1]
        rest = rest[2:]
        if flag == "--body":
            body = value.encode()
        elif flag == "--token":
            token = value
        elif flag == "--version":
            version = value
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["X-Auth-Token"] = token
    if version:
        headers["OpenStack-API-Version"] = f"instance-ha {version}"
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, hs, data = r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        status, hs, data = e.code, dict(e.headers), e.read()
    try:
        parsed = json.loads(data) if data else None
    except ValueError:
        parsed = data.decode(errors="replace")
    print(json.dumps({"status": status, "headers": hs, "body": parsed}))


if __name__ == "__main__":
    main(sys.argv[1:])
