"""Benchmark: GetWebIdentityToken requests per second for RS256 and ES384 against a
real loopback server, beside the raw signing rate of the same key type measured in
the same run (``tessera.oidc.jwt.sign_payload`` on a payload of the same size).

Not part of the test run.  ``python bench/web_identity_token.py [--seconds N]
[--threads T] [--json]``

Each request is a full SigV4-signed Query call over HTTP (one boto3 client per
thread, keep-alive): parse, verify the signature, authorise, build the claims, sign,
render XML. The ratio shows how much of a request is the signature itself.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.server import TesseraServer

from tessera.oidc.jwt import sign_payload
from tessera.oidc.keys import Algorithm, SigningKey, generate_for

AUD = "https://relying-party.example.com"


def raw_signing_rate(alg: Algorithm, payload: bytes, seconds: float) -> float:
    now = datetime.now(UTC)
    kid = "RSA_0" if alg == "RS256" else "EC384_0"
    key = SigningKey(
        kid=kid, alg=alg, private_key=generate_for(alg), created_at=now, not_before=now
    )
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(20):
            sign_payload(payload, key)
        n += 20
    return n / (time.perf_counter() - start)


def request_rate(srv: TesseraServer, alg: str, seconds: float, threads: int) -> tuple[float, int]:
    counts = [0] * threads
    clients = [srv.client("sts") for _ in range(threads)]
    for c in clients:  # warm up (connection, key cache)
        c.get_web_identity_token(Audience=[AUD], SigningAlgorithm=alg)
    stop = time.perf_counter() + seconds

    def worker(i: int) -> None:
        client = clients[i]
        while time.perf_counter() < stop:
            client.get_web_identity_token(Audience=[AUD], SigningAlgorithm=alg)
            counts[i] += 1

    start = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    total = sum(counts)
    return total / (time.perf_counter() - start), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement (max 30)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (max 16)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    seconds = min(max(args.seconds, 0.5), 30.0)
    threads = min(max(args.threads, 1), 16)
    results: dict[str, Any] = {"seconds": seconds, "threads": threads, "algorithms": {}}
    with tempfile.TemporaryDirectory() as tmp:
        srv = TesseraServer(data_dir=Path(tmp) / "data", extra_args=("--log-level", "warning"))
        srv.init()
        srv.start()
        try:
            srv.client("iam").enable_outbound_web_identity_federation()
            for alg in ("RS256", "ES384"):
                sample = srv.client("sts").get_web_identity_token(
                    Audience=[AUD], SigningAlgorithm=alg
                )["WebIdentityToken"]
                payload_len = len(sample.split(".")[1]) * 3 // 4
                rps, total = request_rate(srv, alg, seconds, threads)
                raw = raw_signing_rate(alg, b"x" * payload_len, seconds)
                results["algorithms"][alg] = {
                    "requests": total,
                    "requests_per_second": round(rps, 1),
                    "raw_signs_per_second": round(raw, 1),
                    "ratio": round(rps / raw, 3),
                }
        finally:
            srv.stop()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"GetWebIdentityToken over loopback HTTP, {threads} client threads, {seconds:g} s each")
    for alg, r in results["algorithms"].items():
        print(
            f"  {alg}: {r['requests_per_second']:8.1f} req/s ({r['requests']} requests)"
            f"   raw sign {r['raw_signs_per_second']:9.1f}/s   ratio {r['ratio']:.3f}"
        )


if __name__ == "__main__":
    main()
