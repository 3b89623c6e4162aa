"""PyTorch anchor for second derivatives: batched Hessians by functorch's vmap(jacfwd(jacrev(f))),
float64, one thread. Usage: /usr/bin/python3 hessian_py.py K,d,d0,N [K,d,d0,N ...]
Prints one line per shape: the shape and the median ms per call (a call: the N Hessians)."""
import statistics
import sys
import time

import numpy as np
import torch
from functorch import jacfwd, jacrev, vmap

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)

for spec in sys.argv[1:]:
    K, d, d0, N = (int(x) for x in spec.split(","))
    rng = np.random.default_rng(0)
    W = torch.tensor(rng.standard_normal((K, d, d)) / np.sqrt(d)); b = torch.tensor(rng.standard_normal((K, d)) / np.sqrt(d))
    w = torch.tensor(rng.standard_normal(d) / np.sqrt(d))

    def f(y):
        z = torch.cat([y, torch.zeros(d - d0)]) if d0 < d else y
        for k in range(K):
            z = z + 0.1 * torch.tanh(W[k] @ z + b[k])
        return w @ z

    Y = torch.tensor(rng.standard_normal((N, d0)))
    hessians = vmap(jacfwd(jacrev(f)))
    hessians(Y)
    times, deadline = [], time.perf_counter() + 3.0
    while len(times) < 3 or (time.perf_counter() < deadline and len(times) < 200):
        start = time.perf_counter(); hessians(Y); times.append(time.perf_counter() - start)
    print(f"K={K} d={d} d0={d0} N={N}: {statistics.median(times) * 1e3:.4f} ms/call", flush=True)
