"""Turn a pytest-benchmark JSON file into the markdown table kept in RESULTS.md.

Usage: python benchmarks/report.py .benchmarks/confusion.json [more.json ...]

For each group, every row shows its median and how many times slower it is than
calipers (``x calipers``: the first of the rows in ``_REFERENCE_ROWS`` the group
has); the bandwidth row shows the share of the measured bandwidth limit that
calipers reaches (probe time / calipers time).
"""

from __future__ import annotations

import json
import os
import platform
import sys
from collections import defaultdict


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _label(name: str) -> str:
    return name.split("::")[-1].removeprefix("test_").replace("_", " ")


#: The row each group's ratios are taken against: the first of these it has.
_REFERENCE_ROWS = ("calipers function", "calipers streaming", "calipers step")


def report(paths: list[str]) -> str:
    groups: dict[str, dict[str, float]] = defaultdict(dict)
    info = {}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        info = data.get("machine_info", info)
        for b in data["benchmarks"]:
            groups[b["group"]][_label(b["name"])] = b["stats"]["median"]
    lines = [
        f"Machine: {os.cpu_count()} CPUs, {_cpu_model()}; "
        f"python {info.get('python_version', platform.python_version())}; "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}",
        "",
        "| group | implementation | median (ms) | x calipers | note |",
        "|---|---|---:|---:|---|",
    ]
    for group, rows in groups.items():
        ref = next((rows[k] for k in _REFERENCE_ROWS if k in rows), None)
        for name, median in sorted(rows.items(), key=lambda kv: kv[1]):
            ratio = f"{median / ref:.1f}" if ref else ""
            note = ""
            if name == "bandwidth probe" and ref:
                note = f"calipers reaches {100 * median / ref:.0f}% of this limit"
            lines.append(f"| {group} | {name} | {median * 1e3:.2f} | {ratio} | {note} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(sys.argv[1:]))
