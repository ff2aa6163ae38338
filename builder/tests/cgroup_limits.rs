//! cgroup limits on real processes (v1 or v2, whichever this host has): a memory limit
//! gets a process OOM-killed and says so, a pids limit stops a fork loop, stats see both.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use strata_builder::cgroup::{self, Cgroup, Resources};

fn name(test: &str) -> String {
    format!("test-{test}-{}", std::process::id())
}

/// Starts `script` under `sh`, waiting on stdin until it is in the cgroup.
fn run_in(cg: &Cgroup, script: &str) -> std::process::Output {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("read go; {script}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    cg.add(child.id()).unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn memory_limit_oom_kills() {
    if cgroup::version().is_none() {
        panic!("no cgroup hierarchy on this host");
    }
    let limits = Resources {
        memory: Some(32 << 20),
        ..Default::default()
    };
    let cg = Cgroup::create(&name("oom"), &limits).unwrap().unwrap();
    let stats = cg.stats();
    assert_eq!(stats.memory_limit, 32 << 20);
    // dd allocates its 64 MiB block at once and touches it.
    let out = run_in(
        &cg,
        "exec busybox dd if=/dev/zero of=/dev/null bs=64M count=1",
    );
    assert_eq!(out.status.signal(), Some(9), "{out:?}");
    assert!(cg.oom_killed());
    assert!(cg.remove());
    assert!(!cg.exists());
}

#[test]
fn pids_limit_stops_a_fork_loop() {
    let limits = Resources {
        pids_limit: Some(20),
        ..Default::default()
    };
    let cg = Cgroup::create(&name("pids"), &limits).unwrap().unwrap();
    let out = run_in(
        &cg,
        "n=0; while [ $n -lt 40 ]; do sleep 3 & n=$((n+1)); done; echo started; wait",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("fork") || stderr.contains("Resource temporarily unavailable"),
        "{out:?}"
    );
    assert_eq!(cg.stats().pids_limit, Some(20));
    assert!(!cg.oom_killed());
    assert!(cg.remove());
}

#[test]
fn refused_limit_leaves_nothing() {
    // A CPU quota below the kernel's minimum of 1ms per period.
    let mut limits = Resources::default();
    limits.set_cpus("0.001").unwrap();
    let n = name("refused");
    let err = Cgroup::create(&n, &limits).unwrap_err();
    assert!(
        err.to_string().contains("the kernel refused --cpus"),
        "{err}"
    );
    assert!(!cgroup::list().contains(&n));
    // No limits, no error.
    let cg = Cgroup::create(&name("plain"), &Resources::default())
        .unwrap()
        .unwrap();
    assert!(cg.exists());
    assert!(cg.remove());
}
