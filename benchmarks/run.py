"""How much flake8-tensorview costs on real model code, as ratios against the tools around it.

    python benchmarks/run.py                       # all three corpora, 10/30/100 %, 3 repeats
    python benchmarks/run.py --sizes 10 --repeat 1 # a quick look

Fetches transformers 5.23.0, timm 1.0.31 and diffusers 0.42.1 with `pip download --no-deps` into
`.corpora/` (git-ignored), makes venvs there for plain flake8, for the same flake8 with this checkout
installed (afresh, not editable, on every run), for ruff and for TorchFix 0.7.0 (it pins an older
libcst), then runs every command interleaved, `--repeat` times, and prints medians
of CPU seconds (user + sys of the whole process tree), wall seconds, files/s and peak memory, and
the ratio of each pair, of CPU time (the targets are CPU ratios) and of wall time. Absolute times on
a shared machine are noise; the ratios are the result.

The two sides of a ratio run back to back, so each repeat gives a ratio of its own ("run by run")
and their median ("paired") is the figure the targets are read on: the machine's speed drifts
between repeats (by half, seen here), which a ratio of the two sides' medians ("medians") mixes
in when the slow spells fall unevenly; a pair shares its spell.

Like with like: every command reads no config file (`--isolated`; the corpora sit inside this
checkout, whose own config would apply to the command), none caches, and each uses as many
processes as ruff uses threads, one per core (`--jobs`, default: the number of cores). Parallel
work costs CPU (process start, pickling, cores that share a cache), ruff's threads as well as the
commands' processes: the CPU ratio is the cost of a run as each is meant to be run.
A size of more than ``--slice-files`` files runs slice by slice, every command on one slice before
the next, and the slices add up: each process's start (and the plugin's libcst import) is then
paid once per slice, which counts against the plugin.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPORA = {"transformers": "5.23.0", "timm": "1.0.31", "diffusers": "0.42.1"}
TORCHFIX = "torchfix==0.7.0"
RUFF = "ruff==0.17.6"


def fetch(cache: Path) -> list[Path]:
    """The .py files of the three wheels, unzipped once into ``cache``."""
    cache.mkdir(parents=True, exist_ok=True)
    roots = []
    for name, release in CORPORA.items():
        root = cache / f"{name}-{release}"
        if not root.exists():
            wheels = list(cache.glob(f"{name}-{release}-*.whl"))
            if not wheels:
                subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache),
                                f"{name}=={release}"], check=True)
                wheels = list(cache.glob(f"{name}-{release}-*.whl"))
            with zipfile.ZipFile(wheels[0]) as wheel:
                wheel.extractall(root)
        roots.append(root)
    return sorted(p for root in roots for p in root.rglob("*.py"))


def tool_venv(cache: Path, name: str, *requirements: str) -> Path | None:
    """A venv with ``requirements``; None (and a note) when they cannot be installed."""
    venv = cache / ".venvs" / name
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], check=False)
        if done.returncode != 0:
            print(f"note: could not install {' '.join(requirements)}; its rows are left out", file=sys.stderr)
            python.unlink()
            return None
    return venv / "bin"


def ours_venv(cache: Path) -> Path:
    """The baseline's flake8 plus this checkout, installed afresh (not editable) on every run:
    the plugin rows differ from the baseline by the plugin and nothing else."""
    pins = [f"flake8=={version('flake8')}", f"libcst=={version('libcst')}"]
    bin_dir = tool_venv(cache, "flake8-tensorview", *pins)
    if bin_dir is None:
        raise SystemExit("could not install flake8 and libcst for this checkout")
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall",
                    str(ROOT)], check=True)
    # and what else it needs (pathspec, tomli), without moving the pinned flake8 and libcst
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(ROOT), *pins], check=True)
    return bin_dir


def sample(files: list[Path], percent: int) -> list[Path]:
    """Every file whose index crosses a percent step: the same spread for every size."""
    return [f for i, f in enumerate(files) if (i * percent) // 100 != ((i + 1) * percent) // 100]


PLUGIN_ALONE = """
import ast, sys, time
from flake8_tensorview.plugin import TensorViewChecker
spent = 0.0
for path in sys.argv[1:]:
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.readlines()
    try:
        tree = ast.parse("".join(lines))
    except SyntaxError:
        continue
    start = time.process_time()
    list(TensorViewChecker(tree, lines, path).run())
    spent += time.process_time() - start
print(spent)
"""


@dataclass
class Runs:
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)

    def median(self, values: str) -> float:
        return statistics.median(getattr(self, values))


PEAK = (
    "import os, sys\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.execvp(sys.argv[1], sys.argv[1:])\n"
    "_, _, usage = os.wait4(pid, 0)\n"
    "print(usage.ru_maxrss, file=sys.stderr)\n"
)
"""A small parent for each command: a child forked from this script would start with its memory."""


def schedule(names: list[str], pairs: list[tuple[str, str, str]], r: int) -> list[str]:
    """Repeat ``r``'s order: the two sides of a ratio run back to back, so that a slow spell on a
    shared machine falls on both; which side goes first alternates, and the pairs rotate."""
    blocks: list[list[str]] = []
    for a, b, _ in pairs:
        block = [n for n in (a, b) if n in names and not any(n in done for done in blocks)]
        if block:
            blocks.append(block[::-1] if r % 2 else block)
    blocks += [[n] for n in names if not any(n in done for done in blocks)]
    blocks = blocks[r % len(blocks):] + blocks[: r % len(blocks)]
    return [n for block in blocks for n in block]


def measure(command: list[str], file_list: Path) -> tuple[float, float, float, str]:
    """(CPU s of the process tree, wall s, peak RSS MB, stdout) of ``command`` + the files.

    Runs outside the checkout: `python -m flake8` there would find this package's egg-info on
    sys.path and load the plugin into the plain flake8 too."""
    files = file_list.read_text().split("\n")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", PEAK, *command, *files], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=file_list.parent)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak_kb = float(err.decode().strip().splitlines()[-1])
    return cpu, wall, peak_kb / 1024, out.decode(errors="replace")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=ROOT / ".corpora")
    parser.add_argument("--sizes", default="10,30,100", help="percent of the files, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="flake8 -j and flake8-tensorview -j (default: the number of cores, as ruff)")
    parser.add_argument("--torchfix-max", type=int, default=10,
                        help="largest size (percent) TorchFix runs on; it is ~10x slower than flake8")
    parser.add_argument("--torchfix-repeat", type=int, default=1, help="repeats for TorchFix's rows")
    parser.add_argument("--slice-files", type=int, default=1000,
                        help="a size with more files runs in slices of about this many, every command on "
                             "one slice before the next: a slow spell then falls on both sides of a ratio")
    args = parser.parse_args()

    files = fetch(args.cache)
    bin_dir = ours_venv(args.cache)
    # flake8 runs every installed plugin whatever --select says: the baseline needs its own venv
    plain = tool_venv(args.cache, "flake8", f"flake8=={version('flake8')}")
    ruff = tool_venv(args.cache, "ruff", RUFF)
    torchfix = tool_venv(args.cache, "torchfix", TORCHFIX)
    jobs = str(args.jobs)
    flake8_args = ["-m", "flake8", "--isolated", "--exit-zero", "-j", jobs]
    commands = {}
    if plain is not None:
        commands["flake8 E,F,W"] = [str(plain / "python"), *flake8_args, "--select", "E,F,W"]
    commands.update({
        "flake8 E,F,W,TV": [str(bin_dir / "python"), *flake8_args, "--select", "E,F,W,TV"],
        "plugin alone": [str(bin_dir / "python"), "-c", PLUGIN_ALONE],
        "flake8-tensorview": [str(bin_dir / "flake8-tensorview"), "--isolated", "--exit-zero", "-j", jobs],
    })
    if ruff is not None:
        commands["ruff E,F,W"] = [str(ruff / "ruff"), "check", "--isolated", "--no-cache", "--exit-zero", "-q",
                                  "--select", "E,F,W"]
    if torchfix is not None:
        commands["TorchFix: flake8 E,F,W,TOR"] = [str(torchfix / "python"), *flake8_args, "--select", "E,F,W,TOR"]
        commands["TorchFix: torchfix"] = [str(torchfix / "torchfix")]
    pairs = [
        ("flake8 E,F,W,TV", "flake8 E,F,W", "the plugin's cost in a flake8 run (target <= 1.10)"),
        ("plugin alone", "flake8 E,F,W", "the plugin's own CPU, in-process, per flake8 run"),
        ("flake8-tensorview", "ruff E,F,W", "the standalone command against ruff (target <= 5)"),
        ("TorchFix: flake8 E,F,W,TOR", "flake8 E,F,W", "TorchFix's plugin in a flake8 run"),
        ("TorchFix: torchfix", "flake8-tensorview", "TorchFix's command against ours"),
    ]

    lines = sum(f.read_bytes().count(b"\n") for f in files)
    print(f"{len(files)} files, {lines} lines; {args.repeat} interleaved repeats ({args.torchfix_repeat} for TorchFix); "
          f"{os.cpu_count()} cores; -j {jobs}; flake8 {version('flake8')}, {RUFF}, {TORCHFIX}; medians")
    with tempfile.TemporaryDirectory() as tmp:
        for percent in [int(p) for p in args.sizes.split(",")]:
            chosen = sample(files, percent)
            parts = max(1, round(len(chosen) / args.slice_files))
            file_lists = []
            for k in range(parts):  # every parts-th file: each slice has the spread of the whole
                file_list = Path(tmp) / f"files-{percent}-{k}.txt"
                file_list.write_text("\n".join(map(str, chosen[k::parts])))
                file_lists.append(file_list)
            names = [n for n in commands if not n.startswith("TorchFix") or percent <= args.torchfix_max]
            runs = {name: Runs() for name in names}
            for r in range(args.repeat):
                now = [n for n in names if not n.startswith("TorchFix") or len(runs[n].cpu) < args.torchfix_repeat]
                total = {name: Runs() for name in now}
                for k, file_list in enumerate(file_lists):
                    for name in schedule(now, pairs, r + k):
                        cpu, wall, peak, out = measure(commands[name], file_list)
                        if name == "plugin alone":
                            cpu = float(out.strip().splitlines()[-1])
                        total[name].cpu.append(cpu)
                        total[name].wall.append(wall)
                        total[name].peak_mb.append(peak)
                for name in now:
                    runs[name].cpu.append(sum(total[name].cpu))
                    runs[name].wall.append(sum(total[name].wall))
                    runs[name].peak_mb.append(max(total[name].peak_mb))
            print(f"\n## {percent}% of the files: {len(chosen)} files"
                  f"{f', in {parts} slices' if parts > 1 else ''}\n")
            print("| command | CPU s | wall s | files/s (CPU) | peak MB |")
            print("| --- | ---: | ---: | ---: | ---: |")
            for name in names:
                cpu = runs[name].median("cpu")
                print(f"| {name} | {cpu:.2f} | {runs[name].median('wall'):.2f} | {len(chosen) / max(cpu, 1e-9):.0f} "
                      f"| {runs[name].median('peak_mb'):.0f} |")
            print("\n| ratio | CPU, paired | CPU, run by run | CPU, medians | wall, medians | what it says |")
            print("| --- | ---: | --- | ---: | ---: | --- |")
            for a, b, meaning in pairs:
                if a in runs and b in runs:
                    each = [x / y for x, y in zip(runs[a].cpu, runs[b].cpu)]
                    wall = "" if a == "plugin alone" else f"{runs[a].median('wall') / runs[b].median('wall'):.3f}"
                    print(f"| {a} / {b} | {statistics.median(each):.3f} | {', '.join(f'{x:.3f}' for x in each)} "
                          f"| {runs[a].median('cpu') / runs[b].median('cpu'):.3f} | {wall} | {meaning} |")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
