"""Annotation speed: push N tasks into a rating round and pull its export, against a real local
Label Studio; prints the seconds of each and the ratio to a baseline measured in the same run (the
same tasks imported / exported straight through the SDK, without vimo's bookkeeping).

    .venv/bin/python benchmarks/annotation.py --tasks 5000       # target: < 60 s each on 2 cores
"""
from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from pathlib import Path

from vimo.annotation.labeling import Templates
from vimo.annotation.rounds import Rounds, TaskItem
from vimo.annotation.server import LabelStudioServer, ServerPaths, connect


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=5000)
    args = ap.parse_args()
    token = secrets.token_hex(20)  # a throwaway server's token, in memory only
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        (ws / "videos").mkdir()
        (ws / "videos" / "in.mp4").write_bytes(b"x")
        (ws / "videos" / "re.mp4").write_bytes(b"y")
        server = LabelStudioServer(ServerPaths.of(ws))
        t0 = time.perf_counter()
        server.start(token=token, timeout=300)
        print(f"server start (fresh data dir): {time.perf_counter() - t0:.1f} s")
        try:
            client = connect(server.url, token)
            items = [TaskItem(f"pair{i:06d}", media={"input_video": "in.mp4", "reaction_video": "re.mp4"})
                     for i in range(args.tasks)]

            # baseline: the same payloads straight through the SDK
            base = client.projects.create(title="baseline", label_config=Templates().config("rating").text)
            payload = [{"data": {"input_video": "/data/local-files/?d=videos/in.mp4",
                                 "reaction_video": "/data/local-files/?d=videos/re.mp4", "vimo_task": i.task_id}}
                       for i in items]
            t0 = time.perf_counter()
            for s in range(0, len(payload), 1000):
                client.projects.import_tasks(base.id, request=payload[s:s + 1000])
            base_push = time.perf_counter() - t0
            t0 = time.perf_counter()
            b"".join(client.projects.exports.download_sync(base.id, export_type="JSON", download_all_tasks=True,
                                                           download_resources=False))
            base_pull = time.perf_counter() - t0

            rounds = Rounds(ws, client)
            r = rounds.create("rating", "main")
            t0 = time.perf_counter()
            rep = rounds.push(r.id, items)
            push = time.perf_counter() - t0
            assert rep.new == args.tasks
            t0 = time.perf_counter()
            pulled = rounds.pull(r.id)
            pull = time.perf_counter() - t0
            assert pulled.tasks == args.tasks
            t0 = time.perf_counter()
            again = rounds.push(r.id, items)
            repush = time.perf_counter() - t0
            assert again.new == 0
        finally:
            server.stop()
    print(f"push {args.tasks} tasks: {push:.1f} s (baseline SDK import {base_push:.1f} s, ratio {push / base_push:.2f})")
    print(f"pull export of {args.tasks} tasks: {pull:.1f} s (baseline SDK export {base_pull:.1f} s, "
          f"ratio {pull / base_pull:.2f})")
    print(f"re-push of {args.tasks} existing tasks (no-op): {repush:.1f} s")


if __name__ == "__main__":
    main()
