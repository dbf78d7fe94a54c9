#!/usr/bin/env python3
"""PyTorch CPU peer for bench/conv.ts: times conv3d / conv_transpose3d forward and the two
backward gradients for the cases given as JSON on stdin, one JSON result per line on stdout.

Each case: {layer, batch, kind: "conv"|"tconv", size (input grid of the layer), cin, cout, k,
stride, pad}. Directions are from the layer's own point of view. Both NCDHW and
channels_last_3d are tried; the faster one is reported.
"""
import argparse
import json
import statistics
import sys
import time


def median_ms(fn, reps, min_time=0.2):
    fn()  # warm-up (and plan selection)
    times = []
    t_end = time.perf_counter() + min_time
    while len(times) < reps or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
        if len(times) >= 50 * reps:
            break
    return statistics.median(times)


def run_case(torch, c, reps):
    F = torch.nn.functional
    n, s, k, st, pad = c["batch"], c["size"], c["k"], c["stride"], c["pad"]
    cin, cout = c["cin"], c["cout"]
    best = {}
    for layout in ("ncdhw", "channels_last_3d"):
        fmt = torch.channels_last_3d if layout == "channels_last_3d" else torch.contiguous_format
        x = torch.randn(n, cin, s, s, s).to(memory_format=fmt).requires_grad_(True)
        if c["kind"] == "conv":
            w = torch.randn(cout, cin, k, k, k).to(memory_format=fmt).requires_grad_(True)
            fwd = lambda: F.conv3d(x, w, stride=st, padding=pad)
        else:
            w = torch.randn(cin, cout, k, k, k).to(memory_format=fmt).requires_grad_(True)
            fwd = lambda: F.conv_transpose3d(x, w, stride=st, padding=pad)
        with torch.no_grad():
            y0 = fwd()
        dy = torch.randn_like(y0).to(memory_format=fmt)
        y = fwd()

        def fprop():
            with torch.no_grad():
                fwd()

        def dgrad():
            torch.autograd.grad(y, x, dy, retain_graph=True)

        def wgrad():
            torch.autograd.grad(y, w, dy, retain_graph=True)

        for d, fn in (("fprop", fprop), ("dgrad", dgrad), ("wgrad", wgrad)):
            ms = median_ms(fn, reps)
            if d not in best or ms < best[d][0]:
                best[d] = (ms, layout)
    for d, (ms, layout) in best.items():
        print(json.dumps({"layer": c["layer"], "batch": n, "direction": d, "ms": ms, "layout": layout}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    try:
        import torch
    except ImportError as e:
        print(json.dumps({"skipped": f"torch not importable: {e}"}), flush=True)
        return
    torch.set_num_threads(args.threads)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "mkldnn": torch.backends.mkldnn.is_available()}), flush=True)
    for c in json.load(sys.stdin):
        run_case(torch, c, args.reps)


if __name__ == "__main__":
    main()
