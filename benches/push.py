#!/usr/bin/env python3
"""strata push against docker push and buildah push, same content, same registry, same run.

    benches/push.sh [--size-mib 1024] [--rss-size-mib 2048] [--tools strata,docker,buildah]
                    [--work DIR]

Dependency-free (Python 3.11 standard library); needs root (dockerd, buildah), the Debian
`docker-registry` and `buildah` packages. See benches/README.md ("push").

Environment:
    STRATA          the strata binary (default: build it in release with
                    CARGO_TARGET_DIR=$BENCH_TARGET_DIR, default /work/target-bench)
    DOCKER          the docker client (default: docker in PATH)
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benches" / "results"
IMAGE = "strata-bench-push"


def log(msg: str) -> None:
    print(f"[push-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    """A setup command (not timed); fails loudly."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.STDOUT)
    kw.setdefault("text", True)
    res = subprocess.run(cmd, **kw)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {res.returncode}:\n{res.stdout}")
    return res


def timed(cmd: list[str], logfile: Path, rss: bool = False) -> tuple[float, int | None]:
    """Runs a measured command: (wall seconds, peak RSS in KiB when `rss`)."""
    if rss:
        cmd = ["/usr/bin/time", "-v", *cmd]
    start = time.monotonic()
    with open(logfile, "w") as out:
        res = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT)
    elapsed = time.monotonic() - start
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {res.returncode}; see {logfile}")
    peak = None
    if rss:
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", logfile.read_text())
        peak = int(m.group(1)) if m else None
    return elapsed, peak


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_data(path: Path, mib: int) -> None:
    """Random-ish content: each MiB is half random bytes, half a repeated random 4 KiB
    block, so gzip and zstd get about 2:1 and neither can shortcut it."""
    block = os.urandom(4096)
    half = 512 * 1024
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(half))
            f.write(block * (half // len(block)))


class Registry:
    def __init__(self, work: Path):
        self.dir = work / "registry"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = self.dir / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.dir / 'data'}\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n"
        )
        self.log = open(self.dir / "registry.log", "w")
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=self.log, stderr=self.log
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("docker-registry did not start")
                time.sleep(0.1)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.log.close()


def strata_binary() -> str:
    if os.environ.get("STRATA"):
        return os.environ["STRATA"]
    target = os.environ.get("BENCH_TARGET_DIR", "/work/target-bench")
    log(f"building strata (release, CARGO_TARGET_DIR={target})")
    run(["cargo", "build", "--release", "--bin", "strata"], cwd=REPO,
        env={**os.environ, "CARGO_TARGET_DIR": target})
    return f"{target}/release/strata"


def fmt_kib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.0f} MB"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--rss-size-mib", type=int, default=2048,
                    help="layer size of the peak-RSS push/pull (0: skip)")
    ap.add_argument("--tools", default="strata,docker,buildah")
    ap.add_argument("--second-runs", type=int, default=7,
                    help="second pushes per tool (the median is reported)")
    ap.add_argument("--work", default="/var/tmp/strata-push-bench")
    args = ap.parse_args()
    tools = args.tools.split(",")
    work = Path(args.work)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    logs = work / "logs"
    logs.mkdir()
    strata = strata_binary()
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    docker = os.environ.get("DOCKER", "docker")
    root = work / "strata"
    sroot = ["--root", str(root)]
    registry = Registry(work)
    rows: list[tuple[str, str, float, int | None]] = []
    notes: list[str] = []
    docker_loaded = False
    buildah_root = ["--root", str(work / "buildah"), "--runroot", str(work / "buildah-run"),
                    "--storage-driver", "overlay"]
    try:
        log(f"making a {args.size_mib} MiB layer (strata build, gzip)")
        ctx = work / "ctx"
        ctx.mkdir()
        write_data(ctx / "data", args.size_mib)
        (ctx / "Dockerfile").write_text("FROM scratch\nCOPY data /data\n")
        run([strata, *sroot, "--progress", "plain", "build", "-t", IMAGE, str(ctx)])
        shutil.rmtree(ctx)
        archive = work / "image.tar"
        if "docker" in tools or "buildah" in tools:
            run([strata, *sroot, "save", "--format", "docker", "-o", str(archive), IMAGE])
        if "docker" in tools:
            run([docker, "load", "-i", str(archive)])
            docker_loaded = True
        buildah_id = None
        if "buildah" in tools:
            out = run(["buildah", *buildah_root, "pull", "-q", f"docker-archive:{archive}"])
            buildah_id = out.stdout.strip().splitlines()[-1]
        if archive.exists():
            archive.unlink()

        reg = registry.host
        cases: list[tuple[str, list[str], bool]] = []
        if "strata" in tools:
            cases.append(("strata gzip", [strata, *sroot, "--progress", "plain", "push", IMAGE,
                                          f"{reg}/strata-gzip/img:v1"], True))
            cases.append(("strata zstd", [strata, *sroot, "--progress", "plain", "push",
                                          "--compression", "zstd", IMAGE,
                                          f"{reg}/strata-zstd/img:v1"], True))
        if "docker" in tools:
            run([docker, "tag", IMAGE, f"{reg}/docker/img:v1"])
            cases.append(("docker", [docker, "push", f"{reg}/docker/img:v1"], False))
        if "buildah" in tools:
            cases.append(("buildah", ["buildah", *buildah_root, "push", "--tls-verify=false",
                                      buildah_id, f"docker://{reg}/buildah/img:v1"], False))
        for name, cmd, rss in cases:
            log(f"{name}: first push")
            secs, peak = timed(cmd, logs / f"{name.replace(' ', '-')}-first.log", rss)
            rows.append((name, "first push", secs, peak))
        # Second pushes take tens of milliseconds: the median of several, tools interleaved.
        seconds: dict[str, list[float]] = {name: [] for name, _, _ in cases}
        peaks: dict[str, int | None] = {}
        for i in range(args.second_runs):
            for name, cmd, rss in cases:
                secs, peak = timed(cmd, logs / f"{name.replace(' ', '-')}-second-{i}.log", rss)
                seconds[name].append(secs)
                if peak is not None:
                    peaks[name] = max(peaks.get(name) or 0, peak)
        for name, _, _ in cases:
            rows.append((name, f"second push (median of {args.second_runs})",
                         statistics.median(seconds[name]), peaks.get(name)))
        if "strata" in tools:
            # zstd again to a new repository: the re-compressed layer is found in the store.
            log("strata zstd: first push to a new repository, layer variant already made")
            secs, peak = timed([strata, *sroot, "--progress", "plain", "push", "--compression",
                                "zstd", IMAGE, f"{reg}/strata-zstd2/img:v1"],
                               logs / "strata-zstd-reuse.log", True)
            rows.append(("strata zstd", "first push, variant kept", secs, peak))

        if args.rss_size_mib and "strata" in tools:
            log(f"peak RSS: a {args.rss_size_mib} MiB layer pushed and pulled")
            ctx = work / "ctx2"
            ctx.mkdir()
            write_data(ctx / "data", args.rss_size_mib)
            (ctx / "Dockerfile").write_text("FROM scratch\nCOPY data /data\n")
            big = f"{IMAGE}-big"
            run([strata, *sroot, "--progress", "plain", "build", "-t", big, str(ctx)])
            shutil.rmtree(ctx)
            dest = f"{reg}/strata-big/img:v1"
            secs, peak = timed([strata, *sroot, "--progress", "plain", "push", big, dest],
                               logs / "big-push.log", True)
            rows.append((f"strata {args.rss_size_mib} MiB", "push", secs, peak))
            run([strata, *sroot, "rmi", big])
            shutil.rmtree(root)
            fresh = ["--root", str(work / "strata-pull")]
            secs, peak = timed([strata, *fresh, "--progress", "plain", "pull", dest],
                               logs / "big-pull.log", True)
            rows.append((f"strata {args.rss_size_mib} MiB", "pull", secs, peak))
    finally:
        registry.stop()
        if docker_loaded:
            subprocess.run([docker, "rmi", "-f", IMAGE, f"{registry.host}/docker/img:v1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["buildah", *buildah_root, "rmi", "-a", "-f"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for sub in ("strata", "strata-pull", "registry", "ctx", "ctx2", "buildah",
                    "buildah-run", "image.tar"):
            p = work / sub
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            elif p.exists():
                p.unlink()

    def cell(tool: str, phase: str) -> float | None:
        for t, p, s, _ in rows:
            if t == tool and p == phase:
                return s
        return None

    lines = [
        f"# strata push benchmark, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"# {args.size_mib} MiB layer (half random, half repeated), registry: docker-registry "
        f"on 127.0.0.1; {os.cpu_count()} CPUs; command: benches/push.sh "
        f"--size-mib {args.size_mib} --rss-size-mib {args.rss_size_mib} --tools {args.tools} "
        f"--second-runs {args.second_runs}; load average before: {load_before}",
        "",
        f"{'tool':<22} {'phase':<26} {'seconds':>8} {'peak RSS':>9}",
    ]
    for tool, phase, secs, peak in rows:
        lines.append(f"{tool:<22} {phase:<26} {secs:>8.2f} {fmt_kib(peak):>9}")
    lines.append("")
    buildah_first = cell("buildah", "first push")
    second = f"second push (median of {args.second_runs})"
    buildah_second = cell("buildah", second)
    docker_second = cell("docker", second)
    checks = [
        ("strata gzip first / buildah first", cell("strata gzip", "first push"), buildah_first, 1.0),
        ("strata zstd first / buildah first", cell("strata zstd", "first push"), buildah_first, 0.5),
        ("strata zstd first (variant kept) / buildah first",
         cell("strata zstd", "first push, variant kept"), buildah_first, 0.5),
        ("strata gzip second / buildah second", cell("strata gzip", second), buildah_second, 1.0),
        ("strata gzip second / docker second", cell("strata gzip", second), docker_second, 1.0),
        ("strata zstd second / buildah second", cell("strata zstd", second), buildah_second, 1.0),
        ("strata zstd second / docker second", cell("strata zstd", second), docker_second, 1.0),
    ]
    for label, a, b, target in checks:
        if a is None or b is None:
            continue
        ratio = a / b
        verdict = "ok" if ratio <= target else "MISSED"
        lines.append(f"{label:<52} {ratio:6.2f}x  (target <= {target}x: {verdict})")
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "push-latest.txt").write_text(text)
    log(f"logs in {logs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
