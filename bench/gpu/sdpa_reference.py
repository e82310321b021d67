#!/usr/bin/python3
"""PyTorch's scaled_dot_product_attention on the same GPU, as the reference for
flopd's attention op (issue 13: attention/fused within 2x of it in FP32).

For each N and head size d: Q, K, V of shape (1, 1, N, d) in FP32 (or --dtype
f64), uniform in [0.5, 1.5); 20 warm-up calls, then the median of 7 loops of
`--calls` back-to-back calls timed between two CUDA events. The kernel PyTorch
picked is read from the profiler (the CUDA kernels one call launches): FP32
has no FlashAttention kernel in PyTorch, so it is normally the
memory-efficient (cutlass "fmha") one or the math fallback.

usage: bench/gpu/sdpa_reference.py [--sizes 1024,2048,4096,8192,16384] [--heads 64,128]
                                   [--dtype f32] [--calls 50] [--out FILE.json]
"""
import argparse
import json
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1024,2048,4096,8192,16384")
    p.add_argument("--heads", default="64,128")
    p.add_argument("--dtype", default="f32")
    p.add_argument("--calls", type=int, default=50)
    p.add_argument("--out", default="")
    args = p.parse_args()
    import torch
    import torch.nn.functional as F
    dt = torch.float32 if args.dtype == "f32" else torch.float64
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    rows = []
    for d in [int(x) for x in args.heads.split(",")]:
        for n in [int(x) for x in args.sizes.split(",")]:
            g = torch.Generator(device="cuda").manual_seed(1)
            q, k, v = (torch.rand((1, 1, n, d), device="cuda", dtype=dt, generator=g) + 0.5
                       for _ in range(3))
            call = lambda: F.scaled_dot_product_attention(q, k, v)
            for _ in range(20):
                call()
            torch.cuda.synchronize()
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
                call()
                torch.cuda.synchronize()
            kernels = sorted({e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA})
            loops = []
            for _ in range(7):
                start = torch.cuda.Event(enable_timing=True)
                stop = torch.cuda.Event(enable_timing=True)
                start.record()
                for _ in range(args.calls):
                    call()
                stop.record()
                stop.synchronize()
                loops.append(start.elapsed_time(stop) * 1e-3 / args.calls)
            loops.sort()
            seconds = loops[len(loops) // 2]
            flops = 4 * d * n * n + 4 * n * n - 2 * n
            rows.append({"n": n, "d": d, "dtype": args.dtype, "seconds": seconds,
                         "gflops_per_s": flops / seconds / 1e9, "kernels": kernels})
            print("N=%6d d=%3d %s: %9.1f us  %8.1f GFLOP/s  kernels: %s" % (
                n, d, args.dtype, seconds * 1e6, flops / seconds / 1e9, "; ".join(k[:80] for k in kernels)))
            del q, k, v
            torch.cuda.empty_cache()
    result = {"torch": torch.__version__, "device": torch.cuda.get_device_name(), "rows": rows}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
