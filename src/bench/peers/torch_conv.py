#!/usr/bin/env python3
"""PyTorch peer for `vnet-native bench conv`: times conv3d / conv_transpose3d forward and the two
backward gradients. It first prints one JSON line (the torch version, or {"skipped": why}), then
reads one case per line on stdin and answers with one JSON result per direction and a
{"done": id} line, so the caller can run its own timing of the same case right after (both
then see the same load on a shared machine).

Each case: {id, transposed, input [N,D,H,W,C] (the layer's input), filters, kernel [3],
stride [3], pad_front [3], pad_back [3], out [3] (a transposed layer's output size),
directions, dtype "f32"|"f16", math "fp32"|"tf32"|"fp16", device "cpu"|"cuda"}. Directions are
the layer's own. NCDHW and channels_last_3d are both tried; the faster is reported. Asymmetric
('same' with an odd total) padding is applied to the input once, outside the timed region.
"""
import argparse
import json
import statistics
import sys
import time


def timer(torch, device):
    if device == "cuda":
        def run(fn):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            e.synchronize()
            return s.elapsed_time(e)
    else:
        def run(fn):
            t0 = time.perf_counter()
            fn()
            return (time.perf_counter() - t0) * 1e3
    return run


def median_ms(run, fn, warmup, reps, min_time, max_reps):
    for _ in range(max(1, warmup)):
        fn()  # warm-up (and cuDNN / oneDNN plan selection)
    times, total = [], 0.0
    while len(times) < max_reps and (len(times) < reps or total < min_time * 1e3):
        t = run(fn)
        times.append(t)
        total += t
    return statistics.median(times)


def run_case(torch, c, a):
    F = torch.nn.functional
    dev = c["device"]
    dt = torch.float16 if c["dtype"] == "f16" else torch.float32
    if dev == "cuda":
        tf32 = c["math"] == "tf32"
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
    n, d, h, w, cin = c["input"]
    k, st, pf, pb, cout = c["kernel"], c["stride"], c["pad_front"], c["pad_back"], c["filters"]
    run = timer(torch, dev)
    best = {}
    for layout in ("ncdhw", "channels_last_3d"):
        fmt = torch.channels_last_3d if layout == "channels_last_3d" else torch.contiguous_format
        mk = lambda *s: torch.randn(*s, device=dev, dtype=dt).to(memory_format=fmt).requires_grad_(True)
        if not c["transposed"]:
            x = mk(n, cin, d, h, w)
            wt = mk(cout, cin, *k)
            if pf != pb:
                # F.pad takes (W front, W back, H front, H back, D front, D back).
                with torch.no_grad():
                    xp = F.pad(x, (pf[2], pb[2], pf[1], pb[1], pf[0], pb[0])).to(memory_format=fmt)
                x = xp.requires_grad_(True)
                pad = 0
            else:
                pad = tuple(pf)
            fwd = lambda: F.conv3d(x, wt, stride=tuple(st), padding=pad)
        else:
            x = mk(n, cin, d, h, w)
            wt = mk(cin, cout, *k)
            o = c["out"]
            extra = [o[i] - ((c["input"][1 + i] - 1) * st[i] - 2 * pf[i] + k[i]) for i in range(3)]
            if any(e < 0 or e >= st[i] for i, e in enumerate(extra)):
                return [{"id": c["id"], "skipped": "padding not expressible as PyTorch conv_transpose3d"}]
            fwd = lambda: F.conv_transpose3d(x, wt, stride=tuple(st), padding=tuple(pf), output_padding=tuple(extra))
        with torch.no_grad():
            y0 = fwd()
        dy = torch.randn_like(y0).to(memory_format=fmt)
        y = fwd()

        def fprop():
            with torch.no_grad():
                fwd()

        fns = {"fprop": fprop,
               "dgrad": lambda: torch.autograd.grad(y, x, dy, retain_graph=True),
               "wgrad": lambda: torch.autograd.grad(y, wt, dy, retain_graph=True)}
        for dname in c["directions"]:
            ms = median_ms(run, fns[dname], a.warmup, a.reps, a.min_time, a.max_reps)
            if dname not in best or ms < best[dname][0]:
                best[dname] = (ms, layout)
    return [{"id": c["id"], "direction": dn, "ms": ms, "layout": lay} for dn, (ms, lay) in best.items()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--min_time", type=float, default=0.3)
    ap.add_argument("--max_reps", type=int, default=1000)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    try:
        import torch
    except ImportError as e:
        print(json.dumps({"skipped": f"torch is not importable ({e})"}), flush=True)
        return
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.device == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"skipped": f"torch {torch.__version__} has no usable CUDA device"}), flush=True)
        return
    torch.backends.cudnn.benchmark = True
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
                      "mkldnn": torch.backends.mkldnn.is_available()}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        c = json.loads(line)
        try:
            for r in run_case(torch, c, a):
                print(json.dumps(r), flush=True)
        except RuntimeError as e:  # e.g. out of memory: this case only
            print(json.dumps({"id": c["id"], "skipped": str(e).splitlines()[0][:200]}), flush=True)
            if c["device"] == "cuda":
                torch.cuda.empty_cache()
        print(json.dumps({"done": c["id"]}), flush=True)


if __name__ == "__main__":
    main()
