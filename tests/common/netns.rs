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

/// An "internet" of the test's own: a namespace behind a veth (`upl0`, 198.51.100.1 on this
/// side) that knows no route back to strata's subnets, so only masqueraded traffic gets an
/// answer; busybox httpd serves `docroot` at 198.51.100.2:80. Its processes are killed (taking
/// the namespace, its veth and the listening socket) when it is dropped.
pub struct Internet {
    ns: std::process::Child,
    httpd: Option<std::process::Child>,
}

impl Internet {
    /// The server's address.
    pub const SERVER: &'static str = "198.51.100.2";

    pub fn start(docroot: &std::path::Path) -> Internet {
        use std::process::Stdio;
        let mut net = Internet {
            ns: Command::new("unshare")
                .args(["--net", "sleep", "300"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("run unshare"),
            httpd: None,
        };
        let pid = net.ns.id().to_string();
        let own = std::fs::read_link("/proc/self/ns/net").unwrap();
        let start = std::time::Instant::now();
        while std::fs::read_link(format!("/proc/{pid}/ns/net")).map_or(true, |ns| ns == own) {
            assert!(start.elapsed().as_secs() < 10, "unshare made no namespace");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let script = format!(
            "ip link add upl0 type veth peer name upl1
             ip link set upl1 netns {pid}
             ip addr add 198.51.100.1/24 dev upl0
             ip link set upl0 up
             nsenter -t {pid} -n ip addr add 198.51.100.2/24 dev upl1
             nsenter -t {pid} -n ip link set upl1 up
             nsenter -t {pid} -n ip link set lo up"
        );
        let out = Command::new("sh")
            .args(["-ec", &script])
            .output()
            .expect("run sh");
        assert!(out.status.success(), "{script}: {out:?}");
        net.httpd = Some(
            Command::new("nsenter")
                .args(["-t", &pid, "-n", "busybox", "httpd", "-f", "-p", "80", "-h"])
                .arg(docroot)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("run busybox httpd"),
        );
        net
    }
}

impl Drop for Internet {
    fn drop(&mut self) {
        for c in self.httpd.iter_mut().chain(std::iter::once(&mut self.ns)) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
