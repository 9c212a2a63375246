#!/usr/bin/python3
"""bench_vector_hnswlib.py — hnswlib's side of tools/bench-vector.

Reads the data set written by `bench_vector gen` (base.f32, query.f32, gt.i32, meta.txt), builds
an hnswlib index ('cosine', same M and ef_construction, one thread), sweeps ef and prints one JSON
line per measurement, in the same format as bench_vector: build time, resident-set growth across
the build, then recall@10 and QPS (single thread, one knn_query call over all queries, median of
the repeats) per ef.

    bench_vector_hnswlib.py DIR M EF_CONSTRUCTION EF,EF,... REPEATS
"""
import json
import statistics
import sys
import time

import hnswlib
import numpy as np

K = 10


def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    directory, m, efc, efs, repeats = sys.argv[1:6]
    m, efc, repeats = int(m), int(efc), max(1, int(repeats))
    n, dims, nq = (int(x) for x in open(f"{directory}/meta.txt").read().split())
    base = np.fromfile(f"{directory}/base.f32", dtype=np.float32).reshape(n, dims)
    queries = np.fromfile(f"{directory}/query.f32", dtype=np.float32).reshape(nq, dims)
    gt = np.fromfile(f"{directory}/gt.i32", dtype=np.int32).reshape(nq, K)
    rss0 = rss_kb()
    started, cpu0 = time.perf_counter(), time.process_time()
    index = hnswlib.Index(space="cosine", dim=dims)
    index.init_index(max_elements=n, ef_construction=efc, M=m, random_seed=100)
    index.set_num_threads(1)
    index.add_items(base, np.arange(n), num_threads=1)
    build_s, build_cpu_s = time.perf_counter() - started, time.process_time() - cpu0
    print(json.dumps({"system": "hnswlib", "build_s": round(build_s, 2),
                      "build_cpu_s": round(build_cpu_s, 2),
                      "memory_mb": round((rss_kb() - rss0) / 1024.0, 1)}), flush=True)
    for ef in (int(x) for x in efs.split(",")):
        index.set_ef(ef)
        rates, cpu_rates = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            labels, _ = index.knn_query(queries, k=K, num_threads=1)
            rates.append(nq / (time.perf_counter() - t0))
            cpu_rates.append(nq / (time.process_time() - c0))
        hits = sum(len(set(labels[q].tolist()) & set(gt[q].tolist())) for q in range(nq))
        print(json.dumps({"system": "hnswlib", "ef": ef, "recall": round(hits / (nq * K), 4),
                          "qps": round(statistics.median(rates), 1),
                          "qps_cpu": round(statistics.median(cpu_rates), 1)}), flush=True)


if __name__ == "__main__":
    main()
