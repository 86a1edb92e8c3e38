"""Model benchmark (issue 3, Performance): Q-CLIP forward against the plain backbone, measured in one run.

    python benchmarks/bench_model.py [--repeats 5] [--threads 2] [--out benchmarks/results]

(a) Forward time: ``QCLIP(frames)`` (adapters, prompts through the adapted text tower, regression)
    against the same backbone's plain open_clip ``encode_image(all frames) + encode_text(prompt ids)``
    on the same input, inference mode, float32, CPU. Target: ratio <= 1.10. On ``tiny`` (12 videos x 8
    frames, 112 px) and on PE-Core-T-16-384 with random weights (2 videos x 8 frames, 384 px). PE-Core-T's
    towers differ in width (192 / 512), so its Q-CLIP shares nothing between them (``sharing='unshared'``,
    otherwise the paper's structure); PE-Core-L (the paper's) needs ~31 s per 8 frames here, see README.
    The two paths alternate; each timing is the median of ``--repeats`` runs (wall clock and process CPU),
    and the minimum (the run least disturbed by other work on a shared machine). The FLOP ratio (matmul,
    convolution and attention FLOPs counted by ``torch.utils.flop_counter``) does not depend on the machine;
    it leaves out element-wise work (LayerNorm, additions), which is what the adapters mostly add.
(b) Training-step memory on PE-Core-T (paper structure, unshared): a child process builds the model,
    records its resident set size (RSS), runs forward + PLCC/rank loss + backward + AdamW step on 12
    videos x 8 frames, and reports the peak RSS (``ru_maxrss``); the step's own memory is the difference.
    It also checks that no backbone weight got a gradient buffer or optimizer state, and reports the bytes
    that full fine-tuning would add for gradients and AdamW state (computed: 3 x 4 bytes per weight).

Writes ``model.json`` and ``model.md`` under ``--out`` and prints them.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]

CASES = {
    "tiny": dict(preset="tiny", overrides={}, batch=12, frames=8),
    "PE-Core-T-16-384": dict(
        preset="paper", overrides=dict(backbone="PE-Core-T-16-384", sharing="unshared"), batch=2, frames=8
    ),
}


def _build(case: dict):
    from qclip_plugin.models import build_qclip

    torch.manual_seed(0)
    return build_qclip(case["preset"], pretrained=None, **case["overrides"]).eval()


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_forward(name: str, case: dict, repeats: int) -> dict:
    model = _build(case)
    h, w = model.preprocess.image_size
    frames = torch.randn(case["batch"], case["frames"], 3, h, w, generator=torch.Generator().manual_seed(0))
    ids = model.prompts.token_ids
    clip = model.backbone

    def qclip():
        return model(frames)

    def plain():
        return clip.encode_image(frames.flatten(0, 1)), clip.encode_text(ids)

    from torch.utils.flop_counter import FlopCounterMode

    flops = {}
    with torch.enable_grad():  # FlopCounterMode's module tracker needs autograd on (counts forward only)
        for key, fn in (("qclip", qclip), ("plain", plain)):
            with FlopCounterMode(display=False) as counter:
                fn()
            flops[key] = counter.get_total_flops()
    with torch.inference_mode():
        qclip(), plain()  # warm-up
        times = {"qclip": [], "plain": []}
        for _ in range(repeats):
            times["qclip"].append(_timed(qclip))
            times["plain"].append(_timed(plain))
    med = {k: (statistics.median(t[0] for t in v), statistics.median(t[1] for t in v)) for k, v in times.items()}
    best = {k: min(t[0] for t in v) for k, v in times.items()}  # least disturbed by other work on the machine
    return dict(
        case=name,
        backbone=model.backbone_name,
        input=f"{case['batch']} x {case['frames']} x 3 x {h} x {w}",
        prompts=int(ids.shape[0]),
        qclip_wall_s=med["qclip"][0],
        plain_wall_s=med["plain"][0],
        ratio_wall=med["qclip"][0] / med["plain"][0],
        qclip_best_s=best["qclip"],
        plain_best_s=best["plain"],
        ratio_best=best["qclip"] / best["plain"],
        qclip_cpu_s=med["qclip"][1],
        plain_cpu_s=med["plain"][1],
        ratio_cpu=med["qclip"][1] / med["plain"][1],
        qclip_gflop=flops["qclip"] / 1e9,
        plain_gflop=flops["plain"] / 1e9,
        ratio_flop=flops["qclip"] / flops["plain"],
        trainable_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
    )


def _rss_mb() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_child(case_name: str, batch: int) -> dict:
    """Runs in a fresh process: one training step, peak RSS."""
    from qclip_plugin.models.losses import PLCCRankLoss

    case = CASES[case_name]
    model = _build(case).train()
    h, w = model.preprocess.image_size
    frames = torch.randn(batch, case["frames"], 3, h, w, generator=torch.Generator().manual_seed(0))
    mos = torch.linspace(1, 5, batch)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    loss_fn = PLCCRankLoss(plcc_weight=1.0, rank_weight=0.3)
    rss_built = _rss_mb()
    start = time.perf_counter()
    loss = sum(loss_fn(model(frames), mos).values())  # mmengine sums the loss* terms
    loss.backward()
    optimizer.step()
    step_s = time.perf_counter() - start
    rss_peak = _rss_mb()
    backbone = list(model.backbone.parameters())
    backbone_weights = sum(p.numel() for p in backbone)
    return dict(
        case=case_name,
        batch=f"{batch} x {case['frames']} x 3 x {h} x {w}",
        rss_after_build_mb=rss_built,
        rss_peak_training_step_mb=rss_peak,
        training_step_mb=rss_peak - rss_built,
        step_seconds=step_s,
        backbone_params_with_grad=sum(p.grad is not None for p in backbone),
        optimizer_states=len(optimizer.state),
        trainable_tensors=len(params),
        trainable_parameters=sum(p.numel() for p in params),
        full_finetune_grad_and_adam_mb=3 * 4 * backbone_weights / 2**20,
    )


def bench_memory(case_name: str, batch: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child-memory", case_name, "--batch", str(batch)],
        check=True, capture_output=True, text=True, cwd=REPO,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def to_markdown(result: dict) -> str:
    lines = [
        "## Q-CLIP model benchmark",
        "",
        f"{result['machine']}, torch {result['torch']}, {result['threads']} threads, float32 CPU, "
        f"median of {result['repeats']} alternating runs (best: their minimum).",
        "",
        "| backbone | input (B x T x C x H x W) | Q-CLIP forward (s) | encode_image + encode_text (s) "
        "| ratio (median wall) | ratio (median CPU) | ratio (best wall) | FLOP ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["forward"]:
        lines.append(
            f"| {r['backbone']} | {r['input']} | {r['qclip_wall_s']:.4f} | {r['plain_wall_s']:.4f} | "
            f"{r['ratio_wall']:.3f} | {r['ratio_cpu']:.3f} | {r['ratio_best']:.3f} | {r['ratio_flop']:.4f} |"
        )
    m = result["memory"]
    if m is None:
        return "\n".join(lines) + "\n"
    lines += [
        "",
        f"Training step on {m['case']} ({m['batch']}, forward + PLCC/rank loss + backward + AdamW): peak RSS "
        f"{m['rss_peak_training_step_mb']:.0f} MB, of which the step itself {m['training_step_mb']:.0f} MB "
        f"(model built: {m['rss_after_build_mb']:.0f} MB); {m['step_seconds']:.1f} s. Backbone weights with a "
        f"gradient: {m['backbone_params_with_grad']}; optimizer states: {m['optimizer_states']} "
        f"(= trainable tensors {m['trainable_tensors']}, {m['trainable_parameters']:,} parameters). Full "
        f"fine-tuning would add {m['full_finetune_grad_and_adam_mb']:.0f} MB of gradients and AdamW state.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=12, help="videos per training step (memory benchmark)")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--skip-memory", action="store_true", help="only the forward timings")
    parser.add_argument("--child-memory", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.child_memory:
        print(json.dumps(memory_child(args.child_memory, args.batch)))
        return 0
    result = dict(
        machine=f"{platform.processor() or platform.machine()} ({platform.system()})",
        torch=torch.__version__,
        threads=args.threads,
        repeats=args.repeats,
        forward=[bench_forward(name, CASES[name], args.repeats) for name in args.cases],
        memory=bench_memory("PE-Core-T-16-384", args.batch) if not args.skip_memory else None,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model.json").write_text(json.dumps(result, indent=2))
    (args.out / "model.md").write_text(to_markdown(result))
    print(to_markdown(result))
    print(f"wrote {args.out / 'model.json'} and {args.out / 'model.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
