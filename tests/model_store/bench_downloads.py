"""Download figures for issue 5: throughput against a plain copy over loopback, bytes re-fetched.

    .venv/bin/python tests/model_store/bench_downloads.py [MiB]

Serves one random file from the fake hub on 127.0.0.1 and times (1) a plain streamed HTTP GET
to disk, (2) ``ModelManager.install`` of it (metadata, staging, sha256, atomic placement);
then drops the connection once mid-file and cancels once mid-file, and reports how many bytes
the server sent that were not kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx2
import huggingface_hub.constants
import numpy as np
from safetensors.numpy import save

sys.path.insert(0, str(Path(__file__).parent))
from fake_hub import Fault, Repo, start_fake_hub

from sfumato.model_store import DownloadCancelled, HardwareProfile, ModelManager
from sfumato.model_store.hub import HubClient

MIB = 1024**2


def main(size_mib: int) -> None:
    huggingface_hub.constants.HF_HUB_OFFLINE = False
    ldm = "model.diffusion_model."
    data = save(  # an SD 1.x-shaped header and random payload, so family detection accepts it
        {
            ldm + "input_blocks.0.0.weight": np.zeros((1, 4, 1, 1), np.float16),
            ldm + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": np.zeros((1, 768), np.float16),
            "payload": np.frombuffer(os.urandom(size_mib * MIB), np.uint8),
        }
    )
    hub, server = start_fake_hub()
    hub.chunk_size = MIB
    hub.repos["bench/model"] = Repo(files={"model_index.json": b"{}", "w/model.safetensors": data})
    hub.plain["model.safetensors"] = data
    root = Path(tempfile.mkdtemp(prefix="sfumato-bench-"))
    httpx2.get(f"{hub.url}/api/models/bench/model")  # the fake hub hashes its files once, untimed
    try:
        start = time.perf_counter()
        with (
            httpx2.stream("GET", f"{hub.url}/files/model.safetensors") as resp,
            (root / "plain").open("wb") as f,
        ):
            for chunk in resp.iter_bytes():
                f.write(chunk)
        plain = time.perf_counter() - start

        src = root / "plain"
        start = time.perf_counter()
        shutil.copyfile(src, root / "copy")
        disk = time.perf_counter() - start

        def manager(cache: str) -> ModelManager:
            return ModelManager(
                root / cache, hub=HubClient(endpoint=hub.url), profile=HardwareProfile(2, 8 * 1024**3)
            )

        start = time.perf_counter()
        model = manager("a").install("bench/model", file="w/model.safetensors")
        ours = time.perf_counter() - start
        assert hashlib.sha256(model.path.read_bytes()).digest() == hashlib.sha256(data).digest()

        half = len(data) // 2
        hub.faults["w/model.safetensors"] = Fault(drop_after=half, times=1)
        hub.requests.clear()
        manager("b").install("bench/model", file="w/model.safetensors")
        ranges = hub.ranges("w/model.safetensors")
        resumed_at = int(ranges[1].split("=")[1].rstrip("-"))
        drop_refetch = half - resumed_at

        hub.chunk_delay = 0.002
        cancel = threading.Event()
        first = manager("c")
        with contextlib.suppress(DownloadCancelled):
            first.install(
                "bench/model", file="w/model.safetensors", cancel=cancel,
                on_progress=lambda p: cancel.set() if p.bytes_done > half else None,
            )  # fmt: skip
        staged = sum(p.stat().st_size for p in first.cache.staging_dir.glob("*.part"))
        hub.chunk_delay = 0.0
        hub.requests.clear()
        manager("c").install("bench/model", file="w/model.safetensors")
        restart_at = int(hub.ranges("w/model.safetensors")[0].split("=")[1].rstrip("-"))

        mb = len(data) / MIB
        print(f"file: {mb:.0f} MiB over loopback, 2 cores")
        print(f"plain streamed GET to disk: {mb / plain:8.0f} MiB/s")
        print(f"disk copy (shutil):         {mb / disk:8.0f} MiB/s")
        print(f"ModelManager.install:       {mb / ours:8.0f} MiB/s  (ratio to plain GET {plain / ours:.2f})")
        print(f"dropped at {half} bytes, resumed at {resumed_at}: {drop_refetch} bytes re-fetched")
        print(f"cancelled with {staged} bytes staged, new manager resumed at {restart_at}: "
              f"{staged - restart_at} bytes re-fetched")  # fmt: skip
    finally:
        hub.closing.set()
        server.shutdown()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 256)
