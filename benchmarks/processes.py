"""One server process against two, on PostgreSQL, under the same load (load.py).

    python benchmarks/processes.py [--preset small] [--duration 60] [--counts 1,2]

Runs load.py once per process count (`relais serve --workers N`), each on a fresh scratch
database, and prints the figures side by side: throughput, p50/p99 of pushes and pulls,
delivery, errors, and the server processes' CPU. On a 2-core machine shared with the
load generator, a second process can only help as far as the first was waiting.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--counts", default="1,2")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("RELAIS_BENCH_POSTGRES_URL", common.DEFAULT_POSTGRES),
    )
    args = parser.parse_args()
    print(common.machine_line())
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for count in [int(c) for c in args.counts.split(",")]:
            figures = Path(tmp) / f"load-{count}.json"
            command = [
                sys.executable,
                "-u",
                str(HERE / "load.py"),
                f"--preset={args.preset}",
                f"--duration={args.duration}",
                "--backend=postgres",
                f"--processes={count}",
                f"--postgres-url={args.postgres_url}",
                f"--json={figures}",
            ]
            print(f"\n##### {count} server process(es)", flush=True)
            subprocess.run(command, check=True)
            results[count] = json.loads(figures.read_text())

    def cell(result: dict, endpoint: str, key: str) -> str:
        value = result["endpoints"].get(endpoint, {}).get(key)
        return f"{value:,.0f}" if isinstance(value, float | int) else "-"

    print(
        "\n| server processes | requests/s | push p50 / p99 ms | pull p50 / p99 ms | delivery p50 / p99 ms | errors | server CPU mean (max) % |"
    )
    print("|---|---|---|---|---|---|---|")
    for count, result in results.items():
        rate = sum(e.get("per_second", 0) for e in result["endpoints"].values())
        delivery = result["delivery"]
        resources = result["resources"]
        print(
            f"| {count} | {rate:.1f} | {cell(result, 'push (note)', 'p50_ms')} / {cell(result, 'push (note)', 'p99_ms')}"
            f" | {cell(result, 'pull', 'p50_ms')} / {cell(result, 'pull', 'p99_ms')}"
            f" | {delivery.get('p50_ms', 0):,.0f} / {delivery.get('p99_ms', 0):,.0f}"
            f" | {result['errors']} | {resources['server_cpu_mean']:.0f} ({resources['server_cpu_max']:.0f}) |"
        )
    print(common.machine_line())


if __name__ == "__main__":
    main()
