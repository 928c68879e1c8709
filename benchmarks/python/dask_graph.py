"""dask.delayed on the graph scope's shapes, threaded scheduler, 2 workers.

Prints one JSON line: microseconds per node for a tree reduction and a chain,
medians of `repeats`, graph building included (as skein's figures are).
"""
import json
import sys
import time

import dask
from dask import delayed


def one(i):
    return 1


def add(a, b):
    return a + b


def inc(x):
    return x + 1


def tree(leaves):
    level = [delayed(one)(i) for i in range(leaves)]
    nodes = len(level)
    while len(level) > 1:
        nxt = [delayed(add)(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        nodes += len(level) // 2
        level = nxt
    return level[0], nodes


def chain(n):
    x = delayed(inc)(0)
    for _ in range(n - 1):
        x = delayed(inc)(x)
    return x, n


def per_node(build, size, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        root, nodes = build(size)
        root.compute(scheduler="threads", num_workers=2)
        times.append((time.perf_counter() - t0) / nodes * 1e6)
    times.sort()
    return times[len(times) // 2]


if __name__ == "__main__":
    leaves, length, repeats = (int(a) for a in sys.argv[1:4])
    sys.setrecursionlimit(100000)
    print(json.dumps({
        "dask": dask.__version__,
        "python": sys.version.split()[0],
        "treeUsPerNode": per_node(tree, leaves, repeats),
        "chainUsPerNode": per_node(chain, length, repeats),
    }))
