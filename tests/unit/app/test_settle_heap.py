"""A serving process freezes what start-up left alive (``settle_heap``), so full
garbage collections stop walking the service models and policies again."""

from __future__ import annotations

import subprocess
import sys


def test_settle_heap_freezes_the_start_up_heap() -> None:
    code = (
        "import gc\n"
        "from tessera.app.bootstrap import settle_heap\n"
        "assert gc.get_freeze_count() == 0\n"
        "settle_heap()\n"
        "assert gc.get_freeze_count() > 1000, gc.get_freeze_count()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
