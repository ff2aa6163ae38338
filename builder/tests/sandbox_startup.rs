//! Per-step start-up time: 50 runs of `/bin/true` in the busybox rootfs,
//! with the embedded runtime and runc (needs root and runc). Prints wall
//! and CPU time per step; fails only if the embedded runtime is
//! unreasonably slow. For the figures:
//! `cargo test --release -p strata-builder --test sandbox_startup -- --nocapture`.
//! `STRATA_SANDBOX_WRITE_CONFIG=DIR` also writes the step's OCI config to
//! DIR/config.json (root DIR/rootfs), to time other runtimes on it.
mod sandbox_util;
use sandbox_util::*;

use std::path::PathBuf;
use std::time::{Duration, Instant};
use strata_builder::sandbox::{spec, Runtime, StepIo};

const RUNS: u32 = 50;

/// CPU time of this process and its reaped children (the steps, the
/// runtimes), in ms: steadier than wall time on a shared machine.
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<f64> = stat[stat.rfind(')').unwrap() + 2..]
        .split(' ')
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    // utime, stime, cutime, cstime (fields 14-17 of proc(5)), 10 ms ticks.
    fields[11..15].iter().sum::<f64>() * 10.0
}

#[test]
fn fifty_steps_of_bin_true() {
    let f = Fixture::new();
    let mut spec = f.spec("");
    spec.process.args = vec!["/bin/true".into()];
    if let Some(dir) = std::env::var_os("STRATA_SANDBOX_WRITE_CONFIG") {
        let dir = PathBuf::from(dir);
        std::fs::write(dir.join("hosts"), &spec.hosts).unwrap();
        std::fs::write(dir.join("resolv.conf"), &spec.resolv_conf).unwrap();
        let root = dir.join("rootfs");
        let config = spec::build(&spec, &root, &dir.join("hosts"), &dir.join("resolv.conf"));
        config.unwrap().save(dir.join("config.json")).unwrap();
    }
    let runc = Runtime::from_arg("runc").expect("runc is needed (apt-get install runc)");
    let mut embedded = Duration::ZERO;
    for (name, rt) in [("embedded", Runtime::Embedded), ("runc", runc)] {
        let sb = f.sandbox(rt);
        assert!(sb.run(&spec, StepIo::null()).unwrap().success(), "{name}");
        let start = Instant::now();
        let cpu = cpu_ms();
        for _ in 0..RUNS {
            assert!(sb.run(&spec, StepIo::null()).unwrap().success(), "{name}");
        }
        let per = start.elapsed() / RUNS;
        let cpu = (cpu_ms() - cpu) / f64::from(RUNS);
        eprintln!(
            "{name}: {RUNS} steps, {:.2} ms per step, {cpu:.1} ms CPU per step",
            per.as_secs_f64() * 1e3
        );
        if name == "embedded" {
            embedded = per;
        }
    }
    assert_eq!(f.upper_entries(), Vec::<String>::new());
    f.assert_state_clean();
    // Generous: a loaded CI machine must not make this flaky.
    assert!(
        embedded < Duration::from_millis(500),
        "{embedded:?} per step"
    );
}
