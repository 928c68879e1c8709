"""joblib's side of the dispatch and transfer benchmarks, run by benchmarks/lib/joblib.ts.

    python joblib_bench.py dispatch <tasks> <repeats>
    python joblib_bench.py transfer <bytes> <repeats>

Prints one JSON line of timings in milliseconds. Every figure is measured in
this process: the caller compares them with skein's own, measured the same way.
"""

import json
import sys
import time

import joblib
import numpy as np
from joblib import Parallel, delayed

N_JOBS = 2
TASKS = 8


def square(x):
    return x * x


def summarize(data, k):
    # One pass over the array, as skein's transfer task makes one.
    return float(data.sum())


def ms(seconds):
    return seconds * 1000.0


def dispatch(n, repeats):
    # Cold: the first call of the process starts loky's workers, as a first
    # parallel() call starts skein's.
    t0 = time.perf_counter()
    out = Parallel(n_jobs=N_JOBS)(delayed(square)(i) for i in range(n))
    cold = time.perf_counter() - t0
    assert out[-1] == (n - 1) ** 2
    warm = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        Parallel(n_jobs=N_JOBS)(delayed(square)(i) for i in range(n))
        warm.append(ms(time.perf_counter() - t0))
    t0 = time.perf_counter()
    [square(i) for i in range(n)]
    sequential = time.perf_counter() - t0
    return {"tasks": n, "coldMs": ms(cold), "warmMs": warm, "sequentialMs": ms(sequential)}


def transfer(nbytes, repeats):
    data = np.arange(nbytes // 8, dtype=np.float64) % 1000
    wall = []
    # Warm, joblib at its best: one pool kept open (as a skein Parallel is),
    # whose first call has started the workers and memory-mapped the array
    # (auto-memmapping, max_nbytes='1M'); later calls reuse the mapped file.
    with Parallel(n_jobs=N_JOBS) as parallel:
        parallel(delayed(summarize)(data, k) for k in range(TASKS))
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = parallel(delayed(summarize)(data, k) for k in range(TASKS))
            wall.append(ms(time.perf_counter() - t0))
    assert len(out) == TASKS
    # The compute floor: the tasks' work run here, spread evenly over the workers.
    floor = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for k in range(TASKS):
            summarize(data, k)
        floor.append(ms(time.perf_counter() - t0) / N_JOBS)
    return {"bytes": nbytes, "tasks": TASKS, "wallMs": wall, "floorMs": floor}


def main():
    mode, size, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    result = dispatch(size, repeats) if mode == "dispatch" else transfer(size, repeats)
    result["versions"] = {"joblib": joblib.__version__, "numpy": np.__version__, "python": sys.version.split()[0]}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
