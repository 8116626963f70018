"""P6: production labextension size next to dask-labextension 7.0.0's, and the sidebar's first
render time in a real JupyterLab (Galata/Playwright). Prints figures; asserts nothing about time.

    python benchmarks/p6_bundle.py            # sizes, then the browser measurement
    python benchmarks/p6_bundle.py --no-browser

Our bundle is built with `jlpm build:prod` when pangeo_hpc_ext/labextension is missing. The
dask-labextension wheel is downloaded (no dependencies) into a temporary directory and removed.
The browser part needs what ui-tests/run.sh needs (chromium, the ui-tests node packages).
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OURS = REPO / "pangeo_hpc_ext" / "labextension"
PEER = "dask-labextension==7.0.0"


@dataclass
class BundleSize:
    files: int
    raw: int
    gzipped: int

    def row(self, name: str) -> str:
        return f"{name:<28} {self.files:>5} {self.raw / 1024:>10.1f} {self.gzipped / 1024:>10.1f}"


def measure(files: dict[str, bytes]) -> BundleSize:
    """Static JavaScript only: what a browser downloads for the extension."""
    scripts = {name: data for name, data in files.items() if name.endswith(".js")}
    return BundleSize(
        files=len(scripts),
        raw=sum(len(data) for data in scripts.values()),
        gzipped=sum(len(gzip.compress(data, compresslevel=9)) for data in scripts.values()),
    )


def our_static() -> dict[str, bytes]:
    static = OURS / "static"
    if not (static / "style.js").exists():
        subprocess.run(["jlpm", "build:prod"], cwd=REPO, check=True)
    return {str(p.relative_to(static)): p.read_bytes() for p in static.iterdir() if p.is_file()}


def peer_static() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory(prefix="p6-peer-") as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", PEER, "--no-deps", "-q", "-d", tmp],
            check=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise SystemExit(f"pip download {PEER} gave no wheel")
        files: dict[str, bytes] = {}
        with zipfile.ZipFile(wheels[0]) as wheel:
            for name in wheel.namelist():
                if "/labextensions/" in name and "/static/" in name:
                    files[name.rsplit("/static/", 1)[1]] = wheel.read(name)
        return files


def first_render() -> int:
    ui_tests = REPO / "ui-tests"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    if not (ui_tests / "node_modules").exists():
        subprocess.run(["jlpm", "install"], cwd=ui_tests, check=True, env=env)
    command = ["jlpm", "playwright", "test", "--config", "playwright-bench.config.js"]
    return subprocess.run(command, cwd=ui_tests, env=env).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-browser", action="store_true", help="sizes only")
    args = parser.parse_args()

    ours = measure(our_static())
    peer = measure(peer_static())
    print("P6 labextension static JS (production builds)")
    print(f"{'bundle':<28} {'files':>5} {'raw KB':>10} {'gzip KB':>10}")
    print(ours.row("pangeo-hpc-ext (ours)"))
    print(peer.row(PEER.replace("==", " ")))
    print(f"ours / dask-labextension (gzip): {ours.gzipped / peer.gzipped:.2f}")
    if args.no_browser:
        return 0
    return first_render()


if __name__ == "__main__":
    sys.exit(main())
