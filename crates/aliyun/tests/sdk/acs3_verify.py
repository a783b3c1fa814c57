"""Recomputes the ACS3-HMAC-SHA256 Authorization of requests signed by moat
with Alibaba Cloud's official signer (alibabacloud-tea-openapi).

Reads a JSON list of {method, query: [[k, v]], headers: [[k, v]],
access_key_id, access_key_secret} on stdin and writes the list of
Authorization values the SDK computes, in the same order.
"""

import hashlib
import json
import sys

from alibabacloud_tea_openapi.utils import Utils
from darabonba.request import DaraRequest

out = []
for r in json.load(sys.stdin):
    req = DaraRequest()
    req.method = r["method"]
    req.pathname = "/"
    req.query = dict(r["query"])
    # The SDK signs every header it is given that is host, content-type or
    # x-acs-*; moat's request carries exactly those.
    req.headers = dict(r["headers"])
    payload = hashlib.sha256(b"").hexdigest()
    out.append(Utils.get_authorization(req, "ACS3-HMAC-SHA256", payload, r["access_key_id"], r["access_key_secret"]))
json.dump(out, sys.stdout)
