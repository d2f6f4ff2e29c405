"""The one exception of ``tessera.agent``: a failure explained in one line that is
safe to print (it never carries a secret, a private key or a session token)."""

from __future__ import annotations

#: the longest reason we print; a misbehaving server cannot flood stderr
MAX_REASON_CHARS = 300


class AgentError(Exception):
    """A failure the agent reports as one line on stderr (or in its log)."""

    def __init__(self, reason: str) -> None:
        super().__init__(one_line(reason))

    @property
    def reason(self) -> str:
        return str(self.args[0])


def one_line(text: str) -> str:
    """``text`` with control characters turned into spaces, runs of whitespace
    collapsed and the length bounded (for text that came from a server or a file)."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > MAX_REASON_CHARS:
        cleaned = cleaned[: MAX_REASON_CHARS - 1] + "…"
    return cleaned
