#!/usr/bin/env python3
"""strata build benchmarks: the same scenarios with strata, docker BuildKit and buildah.

    benches/run.sh [--tools strata,buildkit,buildah] [--only NAME,...] [--work DIR] [--keep]

Dependency-free (Python 3.11 standard library). See benches/README.md for the scenarios,
what "cold", "no-op" and "warm" mean for each tool, and the targets.

Environment:
    STRATA          the strata binary to measure (default: build it in release from this
                    checkout with CARGO_TARGET_DIR=$BENCH_TARGET_DIR, default /work/target-bench)
    DOCKER          the docker client (default: the first of /usr/bin/docker, docker in PATH
                    that builds with its built-in BuildKit under DOCKER_BUILDKIT=1)
    BUILDAH_ISOLATION  oci (default: buildah's OCI isolation through runc) or chroot
    BENCH_SPIN      loop count of the two-stage scenario's busy loop (default: calibrated to
                    ~2 s of CPU on this machine)
    BENCH_TIMEOUT   seconds one build may take (default 1800)
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
BENCHES = REPO / "benches"
RESULTS = BENCHES / "results"
BASE = "strata-bench-base"
TIMEOUT = int(os.environ.get("BENCH_TIMEOUT", "1800"))


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    """Runs a setup command (not timed); fails loudly."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.STDOUT)
    kw.setdefault("text", True)
    res = subprocess.run(cmd, **kw)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {res.returncode}:\n{res.stdout}")
    return res


# ---------------------------------------------------------------------------------------
# Scenarios


@dataclass
class Phase:
    name: str
    # "cold": the tool's state is reset first; "again": immediate rebuild.
    cold: bool
    target: float | None = None  # strata/BuildKit ratio the issue asks for
    reference: float | None = None  # BuildKit seconds on this machine when the issue was filed
    mutate: Callable[[Path], None] | None = None  # applied to the context before the build
    strata_args: list[str] = field(default_factory=list)
    # For BuildKit and buildah, reuse this phase's time instead of running again
    # (e.g. the zstd row: they have no such option here, their default run is the reference).
    same_as: str | None = None


@dataclass
class Scenario:
    key: str
    title: str
    make_context: Callable[[Path], None]
    phases: list[Phase]
    restore: Callable[[Path], None] | None = None  # undo mutations between tools


def write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


# 10 steps after FROM; src/b.txt changes in the "one file changed" phase, so steps 5-7 rerun.
TEN_STEPS = f"""FROM {BASE}
ENV APP_HOME=/app
WORKDIR /app
COPY config.txt ./
RUN echo configured > configured.txt
COPY src/ ./src/
RUN cat src/*.txt | wc -c > size.txt
RUN mkdir -p out && cp -r src out/ && ls -lR out > out/listing.txt
LABEL org.example.bench=ten-steps
USER app
CMD ["cat", "/app/size.txt"]
"""


def ten_steps_context(ctx: Path) -> None:
    write(ctx / "Dockerfile", TEN_STEPS)
    write(ctx / "config.txt", "mode=bench\n")
    for i in range(10):
        write(ctx / "src" / f"{chr(ord('a') + i)}.txt", f"file {i}\n" * (50 + i))


def ten_steps_mutate(ctx: Path) -> None:
    write(ctx / "src" / "b.txt", "file b, changed\n" * 60)


def ten_steps_restore(ctx: Path) -> None:
    write(ctx / "src" / "b.txt", "file 1\n" * 51)


def fifty_runs_context(ctx: Path) -> None:
    lines = [f"FROM {BASE}"]
    lines += [f"RUN echo step {i} > /step-{i:02d}.txt" for i in range(1, 51)]
    write(ctx / "Dockerfile", "\n".join(lines) + "\n")


def spin_count() -> int:
    """Busy-loop iterations of busybox sh that take ~2 s of CPU here (BENCH_SPIN overrides)."""
    if os.environ.get("BENCH_SPIN"):
        return int(os.environ["BENCH_SPIN"])
    busybox = shutil.which("busybox") or "/bin/busybox"
    n = 300_000
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run([busybox, "sh", "-c", f"i=0; while [ $i -lt {n} ]; do i=$((i+1)); done"])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return max(10_000, int(n * 2.0 / max(cpu, 0.01)))


SPIN = 0  # set in main()


def two_stages_context(ctx: Path) -> None:
    loop = f"i=0; while [ $i -lt {SPIN} ]; do i=$((i+1)); done"
    write(
        ctx / "Dockerfile",
        f"""FROM {BASE} AS left
RUN {loop}; echo left $i > /left.txt

FROM {BASE} AS right
RUN {loop}; echo right $i > /right.txt

FROM {BASE}
COPY --from=left /left.txt /
COPY --from=right /right.txt /
""",
    )


BIG_FILES = 20_000
BIG_BYTES = 200 * 1000 * 1000
CHANGED_FILE = Path("data/d021/f004242.txt")


def original(ctx: Path) -> Path:
    """Where the changed file's first content is kept (outside the context)."""
    return ctx.parent / f"{ctx.name}.original"


def big_context(ctx: Path) -> None:
    """20,000 files, 200 MB in all, 100 directories; text-like (gzip ~3x), deterministic."""
    rng = random.Random(20_000)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
             for _ in range(4000)]
    pool_lines = []
    size = 0
    while size < 4 << 20:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(4, 14))) + "\n"
        pool_lines.append(line)
        size += len(line)
    pool = "".join(pool_lines).encode()
    mean = BIG_BYTES // BIG_FILES
    for i in range(BIG_FILES):
        n = rng.randint(mean // 5, mean * 9 // 5)
        off = rng.randrange(0, len(pool) - n)
        header = f"// file {i}\n".encode()
        write(ctx / "data" / f"d{i // 200:03d}" / f"f{i:06d}.txt", header + pool[off:off + n - len(header)])
    write(ctx / "Dockerfile", f"FROM {BASE}\nCOPY data /data\n")
    write(ctx / ".dockerignore", "Dockerfile\n.dockerignore\n")
    original(ctx).write_bytes((ctx / CHANGED_FILE).read_bytes())


def big_mutate(ctx: Path) -> None:
    path = ctx / CHANGED_FILE
    path.write_bytes(path.read_bytes() + b"// one more line\n")


def big_restore(ctx: Path) -> None:
    (ctx / CHANGED_FILE).write_bytes(original(ctx).read_bytes())


def gib_context(ctx: Path) -> None:
    write(
        ctx / "Dockerfile",
        f"FROM {BASE}\n"
        # 64 copies of a 16 MiB random block: incompressible for gzip (32 KiB window) and
        # zstd's default levels (<= 8 MiB windows), and cheap to produce, so the step measures
        # the layer (diff, tar, digest, compression, store) more than the kernel's RNG.
        "RUN head -c 16777216 /dev/urandom > /tmp/block"
        " && for i in $(seq 64); do cat /tmp/block; done > /big.bin"
        " && rm /tmp/block && ls -l /big.bin\n",
    )


def scenarios() -> list[Scenario]:
    return [
        Scenario("ten", "10-step build", ten_steps_context, [
            Phase("cold", True, reference=0.97),
            Phase("no-op rebuild", False, target=0.3, reference=0.10),
            Phase("one file changed", False, mutate=ten_steps_mutate),
        ], restore=ten_steps_restore),
        Scenario("fifty", "50 RUN steps", fifty_runs_context, [
            Phase("cold", True, target=0.3, reference=15.8),
        ]),
        Scenario("stages", "2 stages x 2 s CPU", two_stages_context, [
            Phase("cold", True, target=0.7, reference=4.2),
        ]),
        Scenario("context", "20k files/200 MB", big_context, [
            Phase("cold", True, target=0.3, reference=12.6),
            Phase("warm", False, target=0.1, reference=0.81),
            Phase("one file changed", False, target=0.3, reference=7.2, mutate=big_mutate),
            # strata only, with zstd (BuildKit's docker exporter compresses nothing at all):
            # their cells repeat the default run's, marked `*`.
            Phase("cold, zstd", True, target=0.3, strata_args=["--compression", "zstd"],
                  same_as="cold"),
            Phase("one file changed, zstd", False, target=0.3, mutate=big_mutate,
                  strata_args=["--compression", "zstd"], same_as="one file changed"),
        ], restore=big_restore),
        Scenario("gib", "RUN writes 1 GiB", gib_context, [
            Phase("cold, gzip", True, reference=16.0),
            Phase("cold, zstd", True, target=0.3, strata_args=["--compression", "zstd"],
                  same_as="cold, gzip"),
            Phase("cold, none", True, strata_args=["--compression", "none"],
                  same_as="cold, gzip"),
        ]),
    ]


# ---------------------------------------------------------------------------------------
# Tools


@dataclass
class Result:
    seconds: float | None = None  # None: failed
    rss_mb: float | None = None
    cpu: float | None = None  # user + system seconds of strata and its children


class Tool:
    name = "?"
    label = "?"
    suffix = ""  # appended to log names (the repetition)

    def __init__(self, work: Path):
        self.work = work / self.name
        self.work.mkdir(parents=True, exist_ok=True)
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.trash = work / "trash"

    def discard(self, path: Path) -> None:
        """Moves a store aside; empty_trash() deletes it once the scenario is measured.

        Deleting 20,000 inodes slows down creating the next 20,000 on this host's ext4
        (no journal: the allocator skips recently deleted inodes, see README.md), so no
        tool's clean-up may run just before another tool's timed build."""
        if path.exists():
            self.trash.mkdir(parents=True, exist_ok=True)
            path.rename(self.trash / f"{self.name}-{path.name}-{time.monotonic_ns()}")

    def reset(self) -> None:
        """An empty store / build cache holding only the base image."""

    def release(self) -> None:
        """After the tool's builds of one repetition: let go of what is cheap to let go of."""
        self.cleanup()

    def build(self, scenario: Scenario, phase: Phase, ctx: Path) -> Result:
        raise NotImplementedError

    def cleanup(self) -> None:
        pass

    def timed(self, cmd: list[str], logname: str, env: dict | None = None) -> tuple[float, int, Path]:
        path = self.logs / f"{logname}{self.suffix}.log"
        with open(path, "w") as out:
            out.write("$ " + " ".join(cmd) + "\n")
            out.flush()
            start = time.monotonic()
            # A blocking wait, with the timeout on a timer thread: subprocess.run(timeout=)
            # polls with sleeps of up to 50 ms, which added 0-50 ms to every cell (0.04 s on
            # the 0.07 s warm rebuild).
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
            timer = threading.Timer(TIMEOUT, proc.kill)
            timer.start()
            try:
                rc = proc.wait()
            finally:
                timer.cancel()
            elapsed = time.monotonic() - start
            if rc == -9 and elapsed >= TIMEOUT:
                rc = -1
        return elapsed, rc, path


def tail(path: Path, n: int = 15) -> str:
    lines = path.read_text(errors="replace").splitlines()
    return "\n".join("    " + line for line in lines[-n:])


class Strata(Tool):
    name = "strata"
    label = "strata"

    def __init__(self, work: Path, binary: Path, base_tar: Path):
        super().__init__(work)
        self.bin = str(binary)
        self.base_tar = base_tar
        self.root = self.work / "root"
        self.time = shutil.which("time") and "/usr/bin/time"

    def reset(self) -> None:
        self.discard(self.root)
        run([self.bin, "--root", str(self.root), "import", str(self.base_tar), f"{BASE}:latest"])

    def build(self, scenario: Scenario, phase: Phase, ctx: Path) -> Result:
        rusage = self.logs / f"strata-{scenario.key}-{slug(phase.name)}{self.suffix}.time"
        cmd = [self.bin, "--root", str(self.root), "--progress", "plain", "build",
               "-t", f"strata-bench-{scenario.key}", *phase.strata_args, str(ctx)]
        if self.time:
            cmd = [self.time, "-v", "-o", str(rusage)] + cmd
        # Loopback only, as the other tools' --network none: strata's default RUN network is
        # the bridge, which must not be made on this host.
        env = dict(os.environ, STRATA_DEFAULT_NETWORK="none")
        elapsed, rc, logpath = self.timed(cmd, f"strata-{scenario.key}-{slug(phase.name)}", env)
        rss = cpu = None
        if self.time and rusage.exists():
            text = rusage.read_text()
            m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
            rss = int(m.group(1)) / 1024 if m else None
            times = re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", text)
            cpu = sum(map(float, times)) if len(times) == 2 else None
        if rc != 0:
            log(f"strata failed ({rc}) in {scenario.title} / {phase.name}:\n{tail(logpath)}")
            return Result(None, rss, cpu)
        return Result(elapsed, rss, cpu)

    def cleanup(self) -> None:
        self.discard(self.root)


class BuildKit(Tool):
    name = "buildkit"
    label = "BuildKit"

    def __init__(self, work: Path, docker: str):
        super().__init__(work)
        self.docker = docker
        self.env = dict(os.environ, DOCKER_BUILDKIT="1")
        self.tags: set[str] = set()

    def reset(self) -> None:
        for tag in sorted(self.tags):
            subprocess.run([self.docker, "rmi", "-f", tag], capture_output=True)
        # Pruning the build cache (not --no-cache) is what makes a BuildKit build cold.
        run([self.docker, "builder", "prune", "-af"])

    def build(self, scenario: Scenario, phase: Phase, ctx: Path) -> Result:
        tag = f"strata-bench-{scenario.key}"
        self.tags.add(tag)
        # RUN's default network needs docker's bridge, which this dockerd may not have; strata
        # runs with STRATA_DEFAULT_NETWORK=none (loopback only), which is --network none.
        cmd = [self.docker, "build", "--network", "none", "--progress", "plain", "-t", tag, str(ctx)]
        elapsed, rc, logpath = self.timed(cmd, f"buildkit-{scenario.key}-{slug(phase.name)}", self.env)
        if rc != 0:
            log(f"BuildKit failed ({rc}) in {scenario.title} / {phase.name}:\n{tail(logpath)}")
            return Result(None)
        return Result(elapsed)

    def release(self) -> None:
        """Nothing: pruning now would delete files just before the next tool's build; the
        next reset() (before BuildKit's own cold build) or cleanup() prunes."""

    def cleanup(self) -> None:
        self.reset()


class Buildah(Tool):
    name = "buildah"
    label = "buildah"

    def __init__(self, work: Path, base_archive: Path, isolation: str):
        super().__init__(work)
        self.base_archive = base_archive
        self.isolation = isolation
        self.root = self.work / "root"
        self.runroot = self.work / "runroot"

    def cmd(self, *args: str) -> list[str]:
        return ["buildah", "--root", str(self.root), "--runroot", str(self.runroot),
                "--storage-driver", "overlay", *args]

    def wipe(self) -> None:
        if self.root.exists():
            subprocess.run(self.cmd("rm", "--all"), capture_output=True)
            # Whatever the storage layer left mounted under the root.
            mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                      if line.split()[1].startswith(str(self.work))]
            for m in sorted(mounts, key=len, reverse=True):
                subprocess.run(["umount", "-l", m], capture_output=True)
        self.discard(self.root)
        self.discard(self.runroot)

    def reset(self) -> None:
        self.wipe()
        run(self.cmd("pull", "--quiet", f"docker-archive:{self.base_archive}"))

    def isolation_args(self) -> list[str]:
        if self.isolation == "oci":
            return ["--isolation", "oci", "--runtime", "runc"]
        return ["--isolation", self.isolation]

    def build(self, scenario: Scenario, phase: Phase, ctx: Path) -> Result:
        cmd = self.cmd("bud", "--layers", "--network", "none", *self.isolation_args(),
                       "-t", f"strata-bench-{scenario.key}", str(ctx))
        elapsed, rc, logpath = self.timed(cmd, f"buildah-{scenario.key}-{slug(phase.name)}")
        if rc != 0:
            log(f"buildah failed ({rc}) in {scenario.title} / {phase.name}:\n{tail(logpath)}")
            return Result(None)
        return Result(elapsed)

    def cleanup(self) -> None:
        self.wipe()


def empty_trash(work: Path) -> None:
    trash = work / "trash"
    if trash.exists():
        for mount in Path("/proc/mounts").read_text().splitlines():
            if mount.split()[1].startswith(str(trash)):
                subprocess.run(["umount", "-l", mount.split()[1]], capture_output=True)
        shutil.rmtree(trash, ignore_errors=True)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# ---------------------------------------------------------------------------------------
# Setup


def strata_binary() -> Path:
    if os.environ.get("STRATA"):
        return Path(os.environ["STRATA"]).resolve()
    target = Path(os.environ.get("BENCH_TARGET_DIR", "/work/target-bench"))
    log(f"cargo build --release (CARGO_TARGET_DIR={target})")
    run(["cargo", "build", "--release", "--quiet", "--bin", "strata"], cwd=REPO,
        env=dict(os.environ, CARGO_TARGET_DIR=str(target)), stdout=None, stderr=None)
    return target / "release" / "strata"


def find_docker(work: Path) -> tuple[str | None, str]:
    """A docker client whose `docker build` runs BuildKit (DOCKER_BUILDKIT=1) and a daemon."""
    candidates = [os.environ["DOCKER"]] if os.environ.get("DOCKER") else \
        [c for c in ("/usr/bin/docker", shutil.which("docker")) if c]
    probe = work / "docker-probe"
    write(probe / "Dockerfile", "FROM scratch\nCOPY Dockerfile /\n")
    why = "no docker client"
    for docker in dict.fromkeys(candidates):
        if subprocess.run([docker, "info"], capture_output=True).returncode != 0:
            why = f"{docker}: no daemon"
            continue
        res = subprocess.run([docker, "build", "-q", "--network", "none", "-t", "strata-bench-probe", str(probe)],
                             capture_output=True, text=True, env=dict(os.environ, DOCKER_BUILDKIT="1"))
        if res.returncode == 0:
            subprocess.run([docker, "rmi", "-f", "strata-bench-probe"], capture_output=True)
            return docker, ""
        why = f"{docker}: {res.stderr.strip().splitlines()[0] if res.stderr.strip() else 'build failed'}"
    return None, why


def check_buildah(work: Path, archive: Path) -> tuple[str | None, str]:
    """The isolation buildah can run RUN with here (oci through runc, else chroot)."""
    if not shutil.which("buildah"):
        return None, "buildah not installed (apt-get install -y buildah)"
    wanted = os.environ.get("BUILDAH_ISOLATION")
    tries = [wanted] if wanted else ["oci", "chroot"]
    probe = work / "buildah-probe"
    write(probe / "Dockerfile", f"FROM {BASE}\nRUN echo ok > /ok\n")
    why = ""
    for isolation in tries:
        tool = Buildah(work / "probe", archive, isolation)
        try:
            tool.reset()
            res = tool.build(Scenario("probe", "probe", lambda c: None, []), Phase("probe", True), probe)
            if res.seconds is not None:
                return isolation, ""
            why = f"buildah --isolation {isolation} cannot RUN here (see logs/buildah-probe-probe.log)"
        except RuntimeError as err:
            why = f"buildah setup failed: {str(err).splitlines()[0]}"
        finally:
            tool.cleanup()
    return None, why


# ---------------------------------------------------------------------------------------
# Report


def median(results: list[Result]) -> Result:
    """The median run (by time); a failure anywhere makes the cell a failure."""
    failed = [r for r in results if r.seconds is None]
    if failed:
        return failed[0]
    ordered = sorted(results, key=lambda r: r.seconds)
    middle = ordered[(len(ordered) - 1) // 2: len(ordered) // 2 + 1]  # one, or two to average
    seconds = sum(r.seconds for r in middle) / len(middle)
    cpus = [r.cpu for r in middle if r.cpu is not None]
    rss = [r.rss_mb for r in results if r.rss_mb is not None]
    return Result(seconds, max(rss) if rss else None, sum(cpus) / len(cpus) if cpus else None)


def fmt_s(r: Result | None) -> str:
    if r is None:
        return "-"
    if r.seconds is None:
        return "FAIL"
    return f"{r.seconds:.2f}"


def report(rows, tools: list[str], header: list[str], notes: list[str]) -> str:
    cols = ["scenario", "strata s", "strata CPU s", "BuildKit s", "buildah s", "strata/BK", "target", "met",
            "peak RSS MB", "BK ref s", "load"]
    table = []
    for title, phase, res, load1 in rows:
        s, bk, bh = res.get("strata"), res.get("buildkit"), res.get("buildah")
        ratio = None
        if s and bk and s.seconds and bk.seconds:
            ratio = s.seconds / bk.seconds
        target = phase.target
        met = "-"
        if target is not None and ratio is not None:
            met = "yes" if ratio <= target else "NO"
        if s and s.seconds is None:
            met = "FAIL"
        rss = s.rss_mb if s else None
        table.append([
            f"{title}: {phase.name}",
            fmt_s(s),
            f"{s.cpu:.2f}" if s and s.cpu is not None else "-",
            fmt_s(bk) + ("*" if phase.same_as and bk else ""),
            fmt_s(bh) + ("*" if phase.same_as and bh else ""),
            f"{ratio:.2f}" if ratio is not None else "-",
            f"<= {target}" if target is not None else "-",
            met,
            f"{rss:.0f}" + ("" if rss < 100 else " (>100)") if rss is not None else "-",
            f"{phase.reference:.2f}" if phase.reference is not None else "-",
            f"{load1:.1f}",
        ])
    widths = [max(len(c), *(len(r[i]) for r in table)) for i, c in enumerate(cols)]

    def line(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = header + ["", line(cols), line(["-" * w for w in widths])]
    out += [line(r) for r in table]
    out += [""] + notes
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------


def main() -> int:
    global SPIN
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tools", default="strata,buildkit,buildah")
    ap.add_argument("--only", default="", help="scenario keys: ten,fifty,stages,context,gib")
    ap.add_argument("--work", default=os.environ.get("BENCH_WORK", "/var/tmp/strata-bench"))
    ap.add_argument("--repeat", type=int, default=1,
                    help="run every scenario N times (tools interleaved); cells are medians")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (contexts, logs)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("benches/run.sh needs root (strata's sandbox, docker, buildah)", file=sys.stderr)
        return 2

    wanted = set(filter(None, args.tools.split(",")))
    only = set(filter(None, args.only.split(",")))
    work = Path(args.work)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    notes: list[str] = []

    binary = strata_binary()
    version = run([str(binary), "--version"]).stdout.strip()
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    if not shutil.which("time") and not Path("/usr/bin/time").exists():
        notes.append("peak RSS not measured: /usr/bin/time missing (apt-get install -y time)")

    # The base image: one tar, imported into strata, saved as a docker archive for the others.
    base_tar = work / "base.tar"
    run([str(REPO / "testdata" / "make-rootfs.sh"), str(base_tar)])
    seed = work / "seed-root"
    run([str(binary), "--root", str(seed), "import", str(base_tar), f"{BASE}:latest"])
    archive = work / "base-docker.tar"
    run([str(binary), "--root", str(seed), "save", "-o", str(archive), f"{BASE}:latest"])
    shutil.rmtree(seed)

    tools: list[Tool] = []
    docker_loaded = None
    if "strata" in wanted:
        tools.append(Strata(work, binary, base_tar))
    if "buildkit" in wanted:
        docker, why = find_docker(work)
        if docker:
            had_base = subprocess.run([docker, "image", "inspect", BASE], capture_output=True).returncode == 0
            run([docker, "load", "-i", str(archive)])
            docker_loaded = (docker, had_base)
            tools.append(BuildKit(work, docker))
            ver = run([docker, "version", "--format", "{{.Server.Version}}"]).stdout.strip()
            notes.append(f"BuildKit: `DOCKER_BUILDKIT=1 {docker} build` against dockerd {ver}")
        else:
            notes.append(f"BuildKit skipped: {why}")
    if "buildah" in wanted:
        isolation, why = check_buildah(work, archive)
        if isolation:
            tools.append(Buildah(work, archive, isolation))
            ver = run(["buildah", "--version"]).stdout.strip()
            iso = "--isolation oci --runtime runc" if isolation == "oci" else f"--isolation {isolation}"
            notes.append(f"buildah: `{ver}`, `buildah bud --layers {iso}`, overlay storage")
        else:
            notes.append(f"buildah skipped: {why}")

    SPIN = spin_count()
    notes.append(f"two stages: each RUN is a busybox sh loop of {SPIN} iterations (~2 s CPU here)")

    rows = []
    try:
        for sc in scenarios():
            if only and sc.key not in only:
                continue
            ctx = work / "ctx" / sc.key
            log(f"{sc.title}: writing the context")
            sc.make_context(ctx)
            load1 = os.getloadavg()[0]
            runs: dict[str, dict[str, list[Result]]] = {p.name: {} for p in sc.phases}
            for rep in range(args.repeat):
                # Each repetition starts with another tool, so none is always first or last.
                for tool in tools[rep % len(tools):] + tools[:rep % len(tools)]:
                    tool.suffix = f"-{rep + 1}" if args.repeat > 1 else ""
                    if sc.restore:
                        sc.restore(ctx)
                    for phase in sc.phases:
                        if phase.same_as and tool.name != "strata":
                            continue
                        if phase.cold:
                            tool.reset()
                        if phase.mutate:
                            phase.mutate(ctx)
                        res = tool.build(sc, phase, ctx)
                        runs[phase.name].setdefault(tool.name, []).append(res)
                        rss = f", peak RSS {res.rss_mb:.0f} MB" if res.rss_mb else ""
                        log(f"{sc.title} / {phase.name} / {tool.label}: {fmt_s(res)} s{rss}")
                    tool.release()
            for tool in tools:
                tool.cleanup()
            empty_trash(work)
            for phase in sc.phases:
                if phase.same_as:
                    for tool, results in runs[phase.same_as].items():
                        runs[phase.name].setdefault(tool, results)
                merged = {tool: median(results) for tool, results in runs[phase.name].items()}
                rows.append((sc.title, phase, merged, load1))
            if not args.keep:
                shutil.rmtree(ctx, ignore_errors=True)
    finally:
        for tool in tools:
            tool.cleanup()
        empty_trash(work)
        if docker_loaded and not docker_loaded[1]:
            subprocess.run([docker_loaded[0], "rmi", "-f", f"{BASE}:latest"], capture_output=True)

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()
    header = [
        f"strata build benchmarks, {now}",
        (f"{version}, binary $STRATA={binary}" if os.environ.get("STRATA") else
         f"{version}, built from commit {commit or '?'}{' + uncommitted changes' if dirty else ''}"),
        f"{os.cpu_count()} cores, load average after the run {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        + (f"median of {args.repeat} runs per cell" if args.repeat > 1 else "one run per cell")
        + ", each scenario run by every tool back to back",
    ]
    notes += [
        "strata/BK: strata s / BuildKit s from this run; target: the issue's bound on that ratio;",
        "BK ref s: what BuildKit took when the issue was filed (orientation only).",
        "* strata-only rows (zstd, none): BuildKit's and buildah's cells repeat their default run",
        "  (neither compresses layers here: dockerd's and containers/storage's layer stores are plain).",
        "strata CPU s: user + system time of strata and its RUN processes (/usr/bin/time -v).",
        "peak RSS: strata's Maximum resident set size from /usr/bin/time -v (target < 100 MB).",
        "load: the 1-minute load average when the scenario started (other work on the machine).",
    ]
    text = report(rows, [t.name for t in tools], header, notes)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.txt").write_text(text)
    log(f"written to {RESULTS / 'latest.txt'}; logs in {work / 'logs'}")
    if not args.keep:
        for name in ("ctx", "base.tar", "base-docker.tar", "strata", "buildah", "buildkit", "probe",
                     "buildah-probe", "docker-probe"):
            p = work / name
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            elif p.exists():
                p.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
