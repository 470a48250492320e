"""The system under test: started here (local) or already running (remote), and a run's options."""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.anchors import pages_size
from bench.measure import cpu_seconds, family_cpu_seconds, family_peak_rss_mb, peak_rss_mb
from shared.registry import Registry

REPORTS_PATH = "/v1/reports"


@dataclass
class Options:
    sites: int = 14_474
    seed: int = 0
    report_seed: int | None = None
    year: int | None = None
    processes: int = 2
    concurrency: int = 64
    #: requests per second, all processes, on a fixed schedule (None: closed loop)
    rate: float | None = None
    #: at a fixed rate, the most connections open at once, all processes
    max_connections: int = 512
    amendments: int = 50
    data_dir: Path | None = None
    keep: bool = False
    registry_file: Path | None = None
    url: str | None = None
    nats_url: str | None = None
    tokens_file: Path | None = None
    oracle_url: str | None = None
    timeout: float = 900
    anchors: bool = True
    #: seconds of the quiet window after the burst in which each process's idle CPU is taken
    idle_seconds: float = 60


class Target:
    """Where the system under test is: started here (local) or already running (remote)."""

    def __init__(self, options: Options, registry: Registry) -> None:
        self.options = options
        self.registry = registry
        self.system: Any = None
        self.own_dir: Path | None = None
        self.startup_seconds: float | None = None

    @property
    def local(self) -> bool:
        return self.system is not None

    def start(self) -> None:
        options = self.options
        if options.url is not None:
            if options.nats_url is None or options.tokens_file is None:
                raise ValueError("--url needs --nats-url and --tokens")
            return
        from shared.runtime.registry_files import dump_registry
        from tools.launcher import start_system

        data_dir = options.data_dir
        if data_dir is None:
            data_dir = self.own_dir = Path(tempfile.mkdtemp(prefix="nianbao-bench-"))
        elif data_dir.exists() and any(data_dir.iterdir()):
            raise ValueError(f"{data_dir} is not empty: the benchmark starts from a fresh system")
        data_dir.mkdir(parents=True, exist_ok=True)
        registry_file = data_dir / "registry.json"
        dump_registry(self.registry, registry_file)
        started = time.monotonic()
        self.system = start_system(
            data_dir, registry_file, intake_port=0, pages_port=0, nats_port=0
        )
        self.startup_seconds = time.monotonic() - started

    @property
    def intake_url(self) -> str:
        return self.system.intake_url if self.local else str(self.options.url)

    @property
    def nats_url(self) -> str:
        return self.system.nats.url if self.local else str(self.options.nats_url)

    def tokens(self) -> dict[str, str]:
        path = self.system.data_dir / "demo-tokens.json" if self.local else self.options.tokens_file
        assert path is not None
        loaded: dict[str, str] = json.loads(Path(path).read_text(encoding="utf-8"))
        return loaded

    def dirty_pages(self) -> int | None:
        """Pages the publisher still has to render (local SQLite only), else None."""
        if not self.local:
            return None
        path = self.system.data_dir / "publisher.db"
        if not path.exists():
            return None
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
                return int(db.execute("SELECT COUNT(*) FROM publisher_dirty").fetchone()[0])
        except sqlite3.Error:
            return None

    def memory(self) -> dict[str, float | None]:
        if not self.local:
            return {}
        # a service's worker processes (the publisher's site page worker) count as its own
        out = {name: family_peak_rss_mb(p.pid) for name, p in self.system.processes.items()}
        out["nats-server"] = peak_rss_mb(self.system.nats.process.pid)
        return out

    def cpu(self) -> dict[str, float | None]:
        """CPU seconds used so far by each process of the system (and this benchmark)."""
        import os

        if not self.local:
            return {}
        out = {name: family_cpu_seconds(p.pid) for name, p in self.system.processes.items()}
        out["nats-server"] = cpu_seconds(self.system.nats.process.pid)
        out["bench (this process)"] = cpu_seconds(os.getpid())
        return out

    def pages(self) -> dict[str, Any]:
        return pages_size(self.system.data_dir / "pages") if self.local else {}

    def aggregator_database(self) -> str | None:
        if not self.local:
            return None
        path = self.system.data_dir / "aggregator.db"
        return f"sqlite+aiosqlite:///{path}" if path.exists() else None

    def stop(self) -> None:
        if self.system is not None:
            self.system.stop()
        if self.own_dir is not None and not self.options.keep:
            shutil.rmtree(self.own_dir, ignore_errors=True)
