"""Soak: several writers log for a while; the consumer is killed at random.

Starts its own Kafka broker and ``runstream server`` (embedded store) under
a temporary folder on 127.0.0.1, runs ``--writers`` training processes that
each log ``--points`` values of one metric (with steps) spread over
``--seconds``, and meanwhile SIGKILLs the server at random moments and
starts it again. At the end it reads every run back and reports, per run
and in total, the events sent, points stored, duplicated and lost.
Duplicated and lost must be 0. Everything it starts stops by itself.

    python bench/soak.py --seconds 120 --writers 4 --points 200000
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from runstream import Experiment, Run, Workspace  # noqa: E402
from runstream._local.kafka import LocalKafka  # noqa: E402
from tests._server import ServerProcess  # noqa: E402

WRITER = """
import sys, time
from runstream import Experiment, Workspace
ws = Workspace(sys.argv[1], kafka_bootstrap=sys.argv[2],
               server_url=sys.argv[3], artifacts_url=sys.argv[4],
               topic=sys.argv[5])
points, seconds = int(sys.argv[6]), float(sys.argv[7])
run = Experiment(ws, "soak").start_logging()
print("run_id=" + run.id, flush=True)
started = time.monotonic()
for i in range(points):
    run.log("v", i, step=i)
    if i % 1000 == 999:
        # Spread the points over the requested time.
        behind = started + seconds * (i + 1) / points - time.monotonic()
        if behind > 0:
            time.sleep(behind)
run.flush(300)
print("sent", flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument(
        "--kill-every",
        type=float,
        default=8.0,
        help="mean seconds between consumer kills",
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        broker = LocalKafka(home / "kafka")
        bootstrap = broker.start(timeout_s=120)
        server = ServerProcess(
            bootstrap, home / "server", topic=f"soak.{uuid.uuid4().hex[:8]}"
        )
        server.start()
        ws_name = "soak"
        try:
            report = soak(args, rng, home, bootstrap, server, ws_name)
        finally:
            server.kill()
            broker.stop()

    print(json.dumps(report, indent=2))
    if report["total"]["duplicated"] or report["total"]["lost"]:
        raise SystemExit(1)


def soak(args, rng, home, bootstrap, server, ws_name) -> dict:
    script = home / "writer.py"
    script.write_text(textwrap.dedent(WRITER))
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                ws_name,
                bootstrap,
                server.url,
                str(home / "artifacts"),
                server.topic,
                str(args.points),
                str(args.seconds),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(args.writers)
    ]
    # The SDK's warnings may reach stdout too: take the marked line.
    run_ids = [_read_run_id(w.stdout) for w in writers]

    kills = 0
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        time.sleep(rng.expovariate(1 / args.kill_every))
        server.kill()
        kills += 1
        time.sleep(rng.uniform(0.1, 2.0))
        server.start()

    for writer in writers:
        writer.wait(timeout=args.seconds + 300)

    ws = Workspace(
        ws_name,
        kafka_bootstrap=bootstrap,
        server_url=server.url,
        artifacts_url=str(home / "artifacts"),
        topic=server.topic,
    )
    runs = {}
    total = Counter()
    expected = list(range(args.points))
    for run_id in run_ids:
        run = Run(Experiment(ws, "soak"), run_id)
        values = _read_settled(run, args.points)
        counts = Counter(values)
        duplicated = sum(c - 1 for c in counts.values() if c > 1)
        lost = sum(1 for v in expected if v not in counts)
        writers_seen = run._workspace._query.get_writers(ws_name, run_id)
        runs[run_id] = {
            "points_logged": args.points,
            "events_stored": sum(w["events_stored"] for w in writers_seen),
            "points_read": len(values),
            "duplicated": duplicated,
            "lost": lost,
        }
        for key in ("points_logged", "points_read", "duplicated", "lost"):
            total[key] += runs[run_id][key]
    ws.close()
    return {
        "seconds": args.seconds,
        "writers": args.writers,
        "consumer_kills": kills,
        "runs": runs,
        "total": dict(total),
    }


def _read_run_id(stream) -> str:
    for line in stream:
        if line.startswith("run_id="):
            return line.removeprefix("run_id=").strip()
    raise RuntimeError("a writer exited before printing its run id")


def _read_settled(run: Run, points: int) -> list:
    """Read until the store holds every point, or two minutes pass."""
    values: list = []
    for _ in range(240):
        values = run.get_metrics(name="v").get("v", [])
        if isinstance(values, list) and len(values) >= points:
            break
        time.sleep(0.5)
    return values if isinstance(values, list) else [values]


if __name__ == "__main__":
    main()
