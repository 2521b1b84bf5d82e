"""How much each install adds to a fresh venv: ``python -m tests.helpers.install_sizes``.

Builds the checkout's wheel, then for the client (no extra), ``[server]`` and
``[server,batch]`` makes a new venv of ``--python`` (default: the image's, 3.13) and installs
the wheel with the Dockerfile's pip command; prints a Markdown table of the MiB each adds
beyond an empty venv, the distributions it holds and its five largest. Docker need not run:
the image's venv is this one, plus the slim base image."""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

from tests.helpers.support import ROOT

INSTALLS = {"client": "", "[server]": "[server]", "[server,batch]": "[server,batch]"}
MIB = 2**20


def size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def largest(site: Path, count: int = 5) -> list[tuple[str, int]]:
    """The biggest top-level entries of site-packages (a package and its .libs together)."""
    totals: dict[str, int] = {}
    for entry in site.iterdir():
        name = entry.name.split("-")[0].removesuffix(".libs").lower()
        totals[name] = totals.get(name, 0) + (
            size(entry) if entry.is_dir() else entry.stat().st_size
        )
    return sorted(totals.items(), key=lambda item: -item[1])[:count]


def measure(python: str, wheel: Path, extras: str, where: Path) -> dict[str, object]:
    subprocess.run([python, "-m", "venv", str(where)], check=True)
    pip = [str(where / "bin" / "python"), "-m", "pip"]
    subprocess.run([*pip, "install", "--quiet", "--upgrade", "pip"], check=True)
    empty = size(where)
    subprocess.run([*pip, "install", "--quiet", f"{wheel}{extras}"], check=True)
    listed = json.loads(
        subprocess.run([*pip, "list", "--format", "json"], check=True, capture_output=True).stdout
    )
    (site,) = where.glob("lib/python*/site-packages")
    return {
        "mib": (size(where) - empty) / MIB,
        "distributions": len(listed),
        "largest": [(name, bytes_ / MIB) for name, bytes_ in largest(site)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=str(Path.home() / ".pyenv/versions/3.13.0/bin/python"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        subprocess.run(
            ["python3", "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
             str(work / "wheel"), str(ROOT)],
            check=True,
        )  # fmt: skip
        (wheel,) = (work / "wheel").glob("*.whl")
        version = subprocess.run(
            [args.python, "-c", "import sys; print(sys.version.split()[0])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        print(f"Python {version}, fresh venvs, `pip install <wheel><extras>`\n")
        print("| install | MiB | distributions | largest (MiB) |\n|---|---:|---:|---|")
        for label, extras in INSTALLS.items():
            found = measure(args.python, wheel, extras, work / label.strip("[]").replace(",", "-"))
            top = ", ".join(f"{name} {mib:.0f}" for name, mib in found["largest"])  # type: ignore[attr-defined]
            print(
                f"| {label} | {found['mib']:.0f} | {found['distributions']} | {top} |", flush=True
            )


if __name__ == "__main__":
    main()
