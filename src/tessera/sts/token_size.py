"""The session token's size (issue #14 §5): the 4,096-byte ceiling on the whole
token, the utilization AWS reports, and padding a token document to a minimum
token length (``MinimumSessionTokenSize``).

Since 2026-09-15 AWS limits the *assembled session token* (session policies,
tags, context keys …) to 4,096 bytes and answers ``PackedPolicyTooLarge`` with
the token size and the maximum, both in bytes, above it; ``SessionTokenSize`` is
the length of the returned token and ``SessionTokenUtilization`` (also returned
as ``PackedPolicySize``) the percentage of the maximum it uses. The message's
wording and the rounding (up, so a token that is not empty never reports 0 %)
are **[I]**; the limit is ``SessionCodec.max_token_size``.

The padding lives *inside* the sealed document, as an optional filler member
``"z"`` of the JSON (or, when fewer bytes are missing than a member costs, as
insignificant white space before the closing brace), so it is authenticated with
the rest and cannot be stripped or altered, and any server that reads today's
tokens reads padded ones (unknown members and white space are ignored).

The token is ``base64(header | nonce | AES-GCM(document))``, so its length is a
function of the document's length only (``token_length``). A raw JSON document
(version 2) is padded exactly. A compressed one (version 1) is padded by ending
its zlib stream with a *stored* (uncompressed) deflate block that holds the
filler: ``zlib.decompress`` reads the result as any other stream, and the size is
exact; when fewer bytes are missing than that costs, white space at both ends of
the compressed JSON reaches the exact length (in the rare case where no variant
does, the token is one base64 step, a few bytes, longer than asked; at the
4,096-byte ceiling that would be ``PackedPolicyTooLarge``). The filler is random
URL-safe text, although its value is never read.
"""

from __future__ import annotations

import math
import secrets
import zlib
from typing import Final

MAX_TOKEN_SIZE: Final = 4096

HEADER_BYTES: Final = 3  # version, key id
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
_OVERHEAD: Final = HEADER_BYTES + NONCE_BYTES + TAG_BYTES
RAW: Final = 2  # sessions.TOKEN_VERSION_RAW
COMPRESSED: Final = 1  # sessions.TOKEN_VERSION
_MEMBER: Final = b',"z":"'  # the filler member's opening; it closes with b'"'
_MEMBER_COST: Final = len(_MEMBER) + 1
_STORED_COST: Final = 5 + 4  # stored-block header (1 + LEN + NLEN) and the Adler-32


def utilization(size: int, limit: int = MAX_TOKEN_SIZE) -> int:
    """``SessionTokenUtilization``: the percentage of ``limit`` a ``size``-byte token
    uses, rounded up."""
    return math.ceil(100 * size / limit)


def too_large_message(size: int, limit: int = MAX_TOKEN_SIZE) -> str:
    # [I] AWS says the message gives both sizes in bytes; its wording is not published
    return f"Session token size {size} bytes exceeds the maximum allowed size of {limit} bytes."


def token_length(document_bytes: int) -> int:
    """Characters (= bytes) of the base64 token that seals a document this long."""
    return 4 * math.ceil((_OVERHEAD + document_bytes) / 3)


def document_bytes_for(min_token: int) -> int:
    """The shortest document whose token is at least ``min_token`` long."""
    return max(0, 3 * math.ceil(min_token / 4) - 2 - _OVERHEAD)


def _filler(n: int) -> bytes:
    return secrets.token_urlsafe(n)[:n].encode() if n > 0 else b""


def _pad_raw(raw: bytes, target: int) -> bytes:
    """``raw`` (JSON object text) grown to exactly ``target`` bytes (``target`` ≥ len)."""
    missing = target - len(raw)
    if missing <= 0:
        return raw
    if missing < _MEMBER_COST:
        return raw[:-1] + b" " * missing + b"}"
    return raw[:-1] + _MEMBER + _filler(missing - _MEMBER_COST) + b'"}'


def _pad_compressed(raw: bytes, target: int) -> bytes | None:
    """A zlib stream of ``raw`` plus a filler member, exactly ``target`` bytes long, or
    ``None`` when the filler cannot be made that short."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -12, 4)
    head = raw[:-1] + _MEMBER
    prefix = packer.compress(head) + packer.flush(zlib.Z_SYNC_FLUSH)  # byte-aligned
    fixed = 2 + len(prefix) + _STORED_COST + 2  # zlib header, …, b'"}'
    room = target - fixed
    if room < 0 or room > 0xFFFF - 2:
        return None
    tail = _filler(room) + b'"}'
    stored = (
        bytes([1]) + len(tail).to_bytes(2, "little") + (len(tail) ^ 0xFFFF).to_bytes(2, "little")
    )
    checksum = zlib.adler32(head + tail).to_bytes(4, "big")
    return b"\x78\xda" + prefix + stored + tail + checksum


def pad_document(version: int, document: bytes, min_token: int) -> tuple[int, bytes]:
    """(version, document) whose token is at least ``min_token`` characters long —
    the input unchanged when it already is, else the padding with the fewest extra
    bytes (exactly the shortest token length ≥ ``min_token`` whenever possible)."""
    if min_token <= 0 or token_length(len(document)) >= min_token:
        return version, document
    target = document_bytes_for(min_token)
    raw = document if version == RAW else zlib.decompress(document)
    if len(raw) <= target:
        return RAW, _pad_raw(raw, target)
    padded = _pad_compressed(raw, target)
    if padded is None:
        padded = _search_compressed(raw, token_length(target))
    if padded is None:  # not seen in practice: the next length a stored block reaches
        padded = _pad_compressed(raw, target + 3 * math.ceil((_STORED_COST + _MEMBER_COST) / 3))
    assert padded is not None
    return COMPRESSED, padded


def _search_compressed(raw: bytes, want: int) -> bytes | None:
    """A few bytes short of ``want`` (less than a stored block costs): compress
    ``raw`` with white space after its opening and before its closing brace, under
    a few deflate strategies, with and without a sync flush before the closing
    brace, until the token is exactly ``want`` long. Runs of spaces cost a bit or
    a few each, so this reaches almost every length up to about fifteen bytes more
    (a miss only makes the token one step longer than asked)."""
    body = raw[1:-1]
    for strategy in (zlib.Z_DEFAULT_STRATEGY, zlib.Z_HUFFMAN_ONLY, zlib.Z_RLE):
        for before in range(32):
            for after in range(3):
                text = b"{" + b" " * before + body + b" " * after + b"}"
                for flush_before_brace in (False, True):
                    packer = zlib.compressobj(9, zlib.DEFLATED, 12, 4, strategy)
                    if flush_before_brace:
                        blob = packer.compress(text[:-1]) + packer.flush(zlib.Z_SYNC_FLUSH)
                        blob += packer.compress(b"}") + packer.flush()
                    else:
                        blob = packer.compress(text) + packer.flush()
                    if token_length(len(blob)) == want:
                        return blob
    return None
