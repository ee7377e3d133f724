#!/usr/bin/env python3
"""Prints HS256 bearer tokens for users FIRST..LAST, one per line (user FIRST first), signed with
COMMERCE_JWT_SECRET the way `commerce token` signs them: what bench-coupons' wrk script sends, a
user's own token per request (spawning `commerce token` per user would take minutes).

usage: tokens.py FIRST LAST [TTL_SECONDS]"""
import base64, hashlib, hmac, os, sys, time


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main() -> None:
    first, last = int(sys.argv[1]), int(sys.argv[2])
    ttl = int(sys.argv[3]) if len(sys.argv) > 3 else 3600
    key = os.environ["COMMERCE_JWT_SECRET"].encode()
    header = b64(b'{"alg":"HS256","typ":"JWT"}')
    exp = int(time.time()) + ttl
    out = sys.stdout
    for user in range(first, last + 1):
        claims = b64(('{"sub":"%d","exp":%d}' % (user, exp)).encode())
        signing_input = header + "." + claims
        signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
        out.write(f"{signing_input}.{b64(signature)}\n")


if __name__ == "__main__":
    main()
