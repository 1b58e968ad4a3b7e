"""Torch's default thread count against vimo.threads' plan, alone and beside processes that keep cores busy.

    python benchmarks/threads.py [--steps 20] [--repeats 3] [--competitors N]

Workload: a small training loop shaped like the tiny preset's (an MLP 263 -> 512 -> 512 -> 263 on a
(64, 40, 263) batch, forward + backward + AdamW step), --steps steps after 3 warm-up steps, in a fresh process
per measurement (torch sizes its pool at import), the median of --repeats interleaved runs.
Modes: `default` (the count torch picks itself: the CPUs in the affinity mask) and `configured`
(vimo.threads.configure_torch_threads() with the load measured, as vimo train / bench / generate do under
VIMO_THREADS=load).
Conditions: `alone` (no competitor started here; the machine's load average is printed, since other jobs may
run) and `busy` (--competitors processes spinning in pure Python, default: all cores but one, so the workload's
share of the CPU is one core).
Printed: seconds per run, the busy / alone ratio of each mode, and default / configured under load (> 1: the
plan is faster there). Nothing is asserted: figures depend on the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def workload(steps: int) -> float:
    """Seconds for `steps` training steps of the small MLP (after 3 warm-up steps)."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(263, 512), torch.nn.GELU(), torch.nn.Linear(512, 512), torch.nn.GELU(),
                              torch.nn.Linear(512, 263))
    opt = torch.optim.AdamW(net.parameters(), 1e-4)
    x = torch.randn(64, 40, 263)

    def step() -> None:
        loss = net(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - t


def child(mode: str, steps: int) -> None:
    import torch

    why = "torch default"
    if mode == "configured":
        from vimo.threads import configure_torch_threads

        why = configure_torch_threads(measure_load=True).describe()  # as VIMO_THREADS=load
    seconds = workload(steps)
    print(json.dumps({"threads": torch.get_num_threads(), "seconds": seconds, "why": why}))


def measure(mode: str, steps: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "VIMO_THREADS")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, __file__, "--child", mode, "--steps", str(steps)], capture_output=True,
                          text=True, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--competitors", type=int, default=None, help="busy processes (default: cores - 1)")
    parser.add_argument("--child", choices=("default", "configured"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.steps)
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    competitors = max(1, cores - 1) if args.competitors is None else args.competitors
    print(f"{cores} cores in the affinity mask; busy = {competitors} spinning processes; {args.steps} steps, "
          f"median of {args.repeats}; load average at start {os.getloadavg()[0]:.2f}")
    times: dict[tuple[str, str], list[float]] = {}
    threads: dict[tuple[str, str], set[int]] = {}
    for condition in ("alone", "busy"):
        spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                    for _ in range(competitors if condition == "busy" else 0)]
        try:
            time.sleep(0.5 if spinners else 0)
            for _ in range(args.repeats):
                for mode in ("default", "configured"):
                    got = measure(mode, args.steps)
                    times.setdefault((mode, condition), []).append(got["seconds"])
                    threads.setdefault((mode, condition), set()).add(got["threads"])
                    print(f"  {condition:5} {mode:10} {got['threads']} threads  {got['seconds']:7.2f} s  "
                          f"({got['why']}; load {os.getloadavg()[0]:.2f})")
        finally:
            for p in spinners:
                p.kill()
                p.wait()
    med = {k: statistics.median(v) for k, v in times.items()}
    print("median seconds:")
    for (mode, condition), s in sorted(med.items()):
        print(f"  {condition:5} {mode:10} threads {sorted(threads[(mode, condition)])}  {s:7.2f} s")
    for mode in ("default", "configured"):
        print(f"ratio busy / alone, {mode:10}: {med[(mode, 'busy')] / med[(mode, 'alone')]:.2f}")
    print(f"ratio default / configured, busy : {med[('default', 'busy')] / med[('configured', 'busy')]:.2f}")
    print(f"ratio default / configured, alone: {med[('default', 'alone')] / med[('configured', 'alone')]:.2f}")


if __name__ == "__main__":
    main()
