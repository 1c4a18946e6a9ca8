"""Resident memory and speed of :class:`ActivityStore` holding ``scenes.mixed(seed, n)``.

``python -m bench.store_memory 1000000 7 [memory|speed]`` prints one JSON line: ``memory`` is measured in
this fresh interpreter while a child process generates the scene and streams it over a pipe
in chunks of 50,000 (pickled), so that the scene's own Activity objects never share this
process's heap with the store; ``speed`` is measured afterwards with the whole scene in
memory (one ``put_many`` of all n, then ``get`` and friends on random slots). Times are
CPU seconds of this process (``time.process_time``), which other engineers' test suites on
the same two cores inflate less than wall-clock time; ``put_many`` is given both ways.

Figures are MiB (as in bench.churn). ``store_compacted_mb`` is the resident growth of the
process that built the store, which includes heap holes left by the last chunks' freed
objects; ``store_reloaded_mb`` is the same store unpickled into a fresh interpreter.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import pickle
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

from bench import scenes
from deconflict.core.activity_store import ActivityStore

CHUNK = 50_000


def _rss_mb() -> tuple[float, float]:
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value
    return float(fields["VmRSS"].split()[0]) / 1024, float(fields["VmHWM"].split()[0]) / 1024


def _trim() -> None:
    """Collect, and give freed heap back to the kernel, so RSS shows what is still held."""
    gc.collect()
    with contextlib.suppress(OSError):  # not glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _produce(n: int, seed: int) -> None:
    """Child: generate the scene and write it to stdout as pickled chunks."""
    scene = scenes.mixed(seed, n)
    out = sys.stdout.buffer
    for at in range(0, n, CHUNK):
        pickle.dump(scene[at : at + CHUNK], out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()


def memory(n: int, seed: int) -> dict[str, Any]:
    _warm_up()
    base, _ = _rss_mb()
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.store_memory", "--produce", str(n), str(seed)],
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    store = ActivityStore()
    put_s = 0.0
    for at in range(0, n, CHUNK):
        chunk = pickle.load(child.stdout)
        t0 = time.process_time()
        store.put_many(range(at, at + len(chunk)), chunk)
        put_s += time.process_time() - t0
        del chunk
    child.wait()
    _trim()
    loaded, peak = _rss_mb()
    t0 = time.process_time()
    store.compact()
    compact_s = time.process_time() - t0
    _trim()
    compacted, _ = _rss_mb()
    with tempfile.NamedTemporaryFile(suffix=".pickle") as saved:
        pickle.dump(store, saved, protocol=pickle.HIGHEST_PROTOCOL)
        saved.flush()
        del store
        reload = subprocess.run(
            [sys.executable, "-m", "bench.store_memory", "--reload", saved.name],
            capture_output=True,
            text=True,
            check=True,
        )
    clean: dict[str, Any] = json.loads(reload.stdout)
    return {
        "n": n,
        "interpreter_mb": round(base, 1),
        "store_loaded_mb": round(loaded - base, 1),
        "store_compacted_mb": round(compacted - base, 1),
        "store_reloaded_mb": clean.pop("store_mb"),
        **clean,
        "peak_over_base_mb": round(peak - base, 1),
        "put_many_chunked_cpu_s": round(put_s, 2),
        "compact_cpu_s": round(compact_s, 2),
    }


def _reload(path: str) -> None:
    """Child: the store unpickled into a fresh interpreter, where nothing was freed around it
    (so no heap holes count), measured the same way."""
    _warm_up()
    base, _ = _rss_mb()
    with open(path, "rb") as saved:
        store = pickle.load(saved)
    _trim()
    loaded, _ = _rss_mb()
    strings = sum(sys.getsizeof(i) for i in store.ids if i is not None) + sys.getsizeof(store.ids)
    view = store.rings()
    columns = sum(c.nbytes for c in store.columns())
    times = store._times.arrays[0].nbytes
    result = {
        "store_mb": round(loaded - base, 1),
        "nbytes_mb": round(store.nbytes() / 2**20, 1),
        "id_strings_mb": round(strings / 2**20, 1),
        "columns_mb": round(columns / 2**20, 1),
        "vertices_mb": round((view.xs.nbytes + view.ys.nbytes) / 2**20, 1),
        "times_mb": round(times / 2**20, 1),
        "polygon_blocks_mb": round(view.struct.nbytes / 2**20, 1),
    }
    print(json.dumps(result))


def _warm_up() -> None:
    """Touch every code path once, so that lazily loaded code does not count as the store."""
    warm = ActivityStore()
    warm.put_many(range(1000), scenes.mixed(1, 1000))
    warm.get(0)
    warm.compact()
    del warm
    _trim()


def speed(n: int, seed: int) -> dict[str, Any]:
    scene = scenes.mixed(seed, n)
    store = ActivityStore()
    t0, c0 = time.perf_counter(), time.process_time()
    store.put_many(range(n), scene)
    put_many_s, put_many_cpu = time.perf_counter() - t0, time.process_time() - c0
    gc.collect()  # the collection put_many deferred walks the whole scene: not a read's cost
    rng = np.random.default_rng(seed)
    picks = rng.choice(n, 10_000, replace=False).tolist()

    def per_call(f: Any, args: list[Any]) -> float:
        t = time.process_time()
        for a in args:
            f(*a)
        return (time.process_time() - t) / len(args) * 1e6

    columns = store.columns()
    polygonal = np.flatnonzero(columns.part_start >= 0)
    poly_picks = rng.choice(polygonal, 10_000).tolist()
    t0 = time.process_time()
    store.get_many(picks)
    get_many_us = (time.process_time() - t0) / len(picks) * 1e6
    replace = [(s, scene[s]) for s in picks[:2000]]
    out = {
        "n": n,
        "put_many_wall_s": round(put_many_s, 2),
        "put_many_cpu_s": round(put_many_cpu, 2),
        "get_us": round(per_call(store.get, [(s,) for s in picks]), 1),
        "get_many_us_per_activity": round(get_many_us, 1),
        "geometry_us": round(per_call(store.geometry, [(s,) for s in picks]), 1),
        "declaration_id_us": round(per_call(store.declaration_id, [(s,) for s in picks]), 2),
        "part_rings_us": round(per_call(store.part_rings, [(s, 0) for s in poly_picks]), 1),
        "put_one_us": round(per_call(store.put, replace), 1),
    }
    t0 = time.process_time()
    store.compact()
    out["compact_cpu_s"] = round(time.process_time() - t0, 2)
    return out


if __name__ == "__main__":
    if sys.argv[1] == "--produce":
        _produce(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1] == "--reload":
        _reload(sys.argv[2])
    else:
        size, seed = int(sys.argv[1]), int(sys.argv[2])
        parts = sys.argv[3:] or ["memory", "speed"]
        result = {}
        if "memory" in parts:
            result["memory"] = memory(size, seed)
        if "speed" in parts:
            result["speed"] = speed(size, seed)
        print(json.dumps(result))
