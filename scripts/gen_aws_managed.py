"""Generate ``src/tessera/iam/aws_managed_policies.json.gz``, the packaged copy of
AWS's managed policies, from the snapshot of ``ListPolicies(Scope=AWS)`` +
``GetPolicyVersion`` (``aws-managed-policies.json``).

The packaged file is compact: one JSON array per policy, in the snapshot's order,
``[name, policy id, path, default version id, create date, update date,
description, document]``, the document as compact JSON text. The gzip header has
no timestamp, so the same source always gives the same bytes. Re-run after
updating the snapshot (``tests/unit/iam/test_aws_managed.py`` fails until you do):

    .venv/bin/python scripts/gen_aws_managed.py [--source PATH] [--check]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "src" / "tessera" / "iam" / "aws_managed_policies.json.gz"
DEFAULT_SOURCE = ROOT.parent.parent / "shared" / "data" / "aws-managed-policies.json"


def render(source: Path) -> bytes:
    """The packaged bytes for the snapshot at ``source``."""
    data = json.loads(source.read_text(encoding="utf-8"))
    rows = []
    for p in data["policies"]:
        expected_arn = f"arn:aws:iam::aws:policy{p['Path']}{p['PolicyName']}"
        if p["Arn"] != expected_arn:
            raise SystemExit(f"{p['Arn']}: ARN does not match path and name")
        rows.append(
            [
                p["PolicyName"],
                p["PolicyId"],
                p["Path"],
                p["DefaultVersionId"],
                p["CreateDate"],
                p["UpdateDate"],
                p["Description"],
                json.dumps(p["Document"], separators=(",", ":"), ensure_ascii=False),
            ]
        )
    text = json.dumps(
        {"source": data.get("source", ""), "policies": rows},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the packaged file is out of date"
    )
    args = parser.parse_args(argv)
    wanted = render(args.source)
    if args.check:
        current = TARGET.read_bytes() if TARGET.exists() else b""
        if current != wanted:
            print(f"{TARGET} is out of date; run scripts/gen_aws_managed.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_bytes(wanted)
    print(f"wrote {TARGET} ({len(wanted)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
