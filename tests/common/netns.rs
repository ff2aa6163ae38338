//! Network tests run in a network namespace of their own: the test re-executes itself under
//! `unshare --net`, so every bridge, veth, address and packet it makes lives only there.

use std::process::Command;

const INSIDE: &str = "STRATA_TEST_IN_NETNS";

/// For test `name`: outside a namespace, runs the test again in a new one (with loopback up)
/// and checks it passed, then returns false; inside, returns true (do the work).
pub fn in_own_netns(name: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        let out = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .output()
            .expect("run ip");
        assert!(out.status.success(), "lo up: {out:?}");
        return true;
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new("unshare")
        .arg("--net")
        .arg(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .output()
        .expect("run unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} in its own network namespace failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

/// `ip ARGS` in the current namespace; stdout.
pub fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
