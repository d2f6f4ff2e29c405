"""The ``--metrics-listen`` listener: Prometheus text format at ``/metrics`` on its
own socket (loopback unless an address is given), served by a daemon thread of the
process that owns the listening socket (the single server process, or the
supervisor of several workers).

With several workers it sums their metrics through ``prometheus_client``'s
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by :func:`prepare_workers`
before they start; see ``tessera.telemetry``). Figures that belong to the store,
not to a process, are read at scrape time from a store this process opens:
issuer and session key ages, the time to the next scheduled rotation, audit
events stored, and the build information."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from tessera import __version__

log = logging.getLogger("tessera.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_workers() -> str:
    """A fresh private directory for the workers' metric files, exported in the
    environment the workers inherit; the caller removes it at exit."""
    path = tempfile.mkdtemp(prefix="tessera-metrics-")
    os.chmod(path, 0o700)
    os.environ[MULTIPROC_ENV] = path
    return path


def cleanup_workers(path: str) -> None:
    os.environ.pop(MULTIPROC_ENV, None)
    shutil.rmtree(path, ignore_errors=True)


class StoreCollector(Collector):
    """Key ages and store figures, read from the store at scrape time."""

    def __init__(self, store: Any, rotation_interval: float | None) -> None:
        self.store = store
        self.rotation_interval = rotation_interval

    def collect(self) -> Iterator[Any]:
        info = InfoMetricFamily("tessera_build", "Tessera build information")
        info.add_metric([], {"version": __version__})
        yield info
        up = GaugeMetricFamily("tessera_store_up", "1 when the store answered this scrape")
        try:
            figures = self._figures()
        except Exception:
            log.warning("metrics: the store did not answer")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from figures

    def _figures(self) -> list[Any]:
        now = datetime.now(UTC)
        started = time.perf_counter()
        out: list[Any] = []
        age = GaugeMetricFamily(
            "tessera_issuer_key_age_seconds",
            "Age of each account's current outbound issuer signing key",
            labels=["account", "algorithm"],
        )
        rotation = GaugeMetricFamily(
            "tessera_issuer_key_next_rotation_seconds",
            "Seconds until the scheduled rotation of each current issuer key",
            labels=["account", "algorithm"],
        )
        for account in self.store.list_accounts():
            account_id = getattr(account, "account_id", account)
            for key in self.store.list_issuer_keys(account_id):
                if getattr(key, "retired_at", None) is not None:
                    continue
                created = getattr(key, "created_at", None)
                if created is None:
                    continue
                alg = str(getattr(key, "algorithm", "") or getattr(key, "alg", ""))
                seconds = (now - created).total_seconds()
                age.add_metric([account_id, alg], seconds)
                if self.rotation_interval:
                    rotation.add_metric([account_id, alg], self.rotation_interval - seconds)
        out += [age, rotation]
        latency = GaugeMetricFamily(
            "tessera_store_scrape_seconds", "Time the store took to answer this scrape"
        )
        latency.add_metric([], time.perf_counter() - started)
        out.append(latency)
        return out


def start_listener(
    address: str,
    *,
    store_opener: Callable[[], Any] | None,
    rotation_interval: float | None,
    multiproc_dir: str | None,
) -> Callable[[], None]:
    """Serve ``/metrics`` at ``address`` (HOST:PORT); returns a function that stops it.
    ``OSError`` when the address cannot be bound."""
    from prometheus_client import REGISTRY

    registry: CollectorRegistry
    if multiproc_dir is not None:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=multiproc_dir)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    store = store_opener() if store_opener is not None else None
    collector = StoreCollector(store, rotation_interval) if store is not None else None
    if collector is not None:
        registry.register(collector)
    host, _, port = address.rpartition(":")
    server, thread = start_http_server(int(port), addr=host, registry=registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        if collector is not None:
            registry.unregister(collector)
        if store is not None:
            store.close()

    return stop
