//! `strata build`'s default network, end to end with the real binary: RUN steps share one
//! namespace on the default `bridge` network (outbound traffic through the masquerade), made
//! by the first step, gone when the build ends, fails or is interrupted. Every test runs in a
//! network namespace of its own (`common::netns`), with an "internet" of its own to fetch from.

mod common;

use common::netns::{in_own_netns, ip, Internet};
use common::Env;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `strata ARGS` with the default network left to strata (no `STRATA_DEFAULT_NETWORK`).
fn strata(env: &Env, args: &[&str]) -> Command {
    let mut cmd = env.cmd(args);
    cmd.env_remove("STRATA_DEFAULT_NETWORK")
        .stdin(Stdio::null());
    cmd
}

fn output(mut cmd: Command) -> Output {
    cmd.output().expect("run strata")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn context(env: &Env, name: &str, dockerfile: &str) -> String {
    let dir = env.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    dir.to_str().unwrap().to_string()
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// strata's veths in this namespace (the test's own uplink is `upl0`).
fn strata_veths() -> Vec<String> {
    ip(&["-o", "link"])
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
        .filter(|n| n.starts_with("veth"))
        .collect()
}

/// The default bridge's endpoints in the store's records.
fn bridge_endpoints(env: &Env) -> usize {
    let out = env.ok(&["network", "inspect", "bridge"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let dir = env.root().join("strata/v1/networks");
    let id = v[0]["Id"].as_str().unwrap();
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{id}.json"))).unwrap())
            .unwrap();
    record["endpoints"].as_object().unwrap().len()
}

const FETCH: &str = "FROM base
RUN wget -qO /fetched.txt http://198.51.100.2/index.html && cat /sys/class/net/eth0/address > /mac1 && readlink /proc/self/ns/net > /ns1
RUN cat /sys/class/net/eth0/address > /mac2 && readlink /proc/self/ns/net > /ns2 && ip addr show eth0 > /addr2
";

#[test]
fn default_network_reaches_out_in_one_namespace_per_build() {
    if !in_own_netns("default_network_reaches_out_in_one_namespace_per_build") {
        return;
    }
    let env = Env::new();
    env.import_base("base");
    let docroot = env.path("www");
    std::fs::create_dir_all(&docroot).unwrap();
    std::fs::write(docroot.join("index.html"), "hello-from-outside\n").unwrap();
    let _internet = Internet::start(&docroot);
    let ctx = context(&env, "fetch", FETCH);

    // The default network: the file comes from the test's "internet" (masqueraded: it knows
    // no route back to 172.17.0.0/16), both RUNs see the same namespace and interface, and
    // one namespace is set up for the whole build.
    let dest = env.path("out");
    let spec = format!("type=local,dest={}", dest.display());
    let out = output(strata(
        &env,
        &["-vv", "--progress", "plain", "build", "-o", &spec, &ctx],
    ));
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert_eq!(read(&dest, "fetched.txt"), "hello-from-outside\n");
    assert_eq!(read(&dest, "ns1"), read(&dest, "ns2"), "one namespace");
    assert_eq!(read(&dest, "mac1"), read(&dest, "mac2"));
    assert!(read(&dest, "addr2").contains("inet 172.17.0.2/16"), "{log}");
    assert_eq!(
        log.matches("network namespace for build-").count(),
        1,
        "one setup per build: {log}"
    );
    assert_eq!(log.matches("network namespace torn down").count(), 1);
    assert!(!log.contains("loopback only"), "{log}");
    // Torn down: no veth, no address, nothing for `system check`.
    assert!(strata_veths().is_empty(), "{}", ip(&["-o", "link"]));
    assert_eq!(bridge_endpoints(&env), 0);
    let check = env.ok(&["system", "check"]);
    assert!(check.contains("store is clean"), "{check}");
    // The image holds what the RUN fetched.
    let tagged = output(strata(&env, &["build", "-q", "-t", "fetched", &ctx]));
    assert!(tagged.status.success(), "{}", text(&tagged));
    let shown = env.ok(&["run", "--rm", "fetched", "cat", "/fetched.txt"]);
    assert_eq!(shown, "hello-from-outside\n");

    // No network: the step fails and says which; the namespace still goes.
    for (how, mut cmd) in [
        (
            "--network=none",
            strata(
                &env,
                &[
                    "--progress",
                    "plain",
                    "build",
                    "--no-cache",
                    "--network=none",
                    &ctx,
                ],
            ),
        ),
        (
            "STRATA_DEFAULT_NETWORK=none",
            env.cmd(&["--progress", "plain", "build", "--no-cache", &ctx]),
        ),
    ] {
        let out = cmd.stdin(Stdio::null()).output().unwrap();
        let log = text(&out);
        assert_eq!(out.status.code(), Some(1), "{how}: {log}");
        assert!(
            log.contains("RUN wget -qO /fetched.txt http://198.51.100.2/index.html")
                && log.contains("did not complete successfully"),
            "{how}: {log}"
        );
    }
    // RUN --network=none wins over the default; a failing build tears its namespace down.
    let ctx2 = context(
        &env,
        "mixed",
        "FROM base\nRUN cat /sys/class/net/eth0/address\nRUN --network=none wget -qO- http://198.51.100.2/index.html\n",
    );
    let out = output(strata(&env, &["--progress", "plain", "build", &ctx2]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("RUN --network=none wget"),
        "{}",
        text(&out)
    );
    assert!(strata_veths().is_empty(), "{}", ip(&["-o", "link"]));
    assert_eq!(bridge_endpoints(&env), 0);

    // A network that cannot be set up: loopback only, one warning naming the cause.
    let ctx3 = context(&env, "lo", "FROM base\nRUN cat /proc/net/dev\n");
    let mut cmd = strata(&env, &["--progress", "plain", "build", &ctx3]);
    cmd.env("STRATA_DEFAULT_NETWORK", "nosuch");
    let out = output(cmd);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert_eq!(
        log.matches(
            "WARNING: default network nosuch unavailable, RUN steps get loopback only: network nosuch not found"
        )
        .count(),
        1,
        "{log}"
    );
    let check = env.ok(&["system", "check"]);
    assert!(check.contains("store is clean"), "{check}");
}

#[test]
fn bridge_that_cannot_be_set_up_gives_loopback_and_one_warning() {
    if !in_own_netns("bridge_that_cannot_be_set_up_gives_loopback_and_one_warning") {
        return;
    }
    // docker's docker0 holds the default bridge's subnet: strata refuses to make a second
    // route for it, and the build goes on with loopback only.
    let out = Command::new("sh")
        .args([
            "-ec",
            "ip link add docker0 type bridge && ip addr add 172.17.0.1/16 dev docker0 && ip link set docker0 up",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let env = Env::new();
    env.import_base("base");
    let ctx = context(
        &env,
        "lo",
        "FROM base\nRUN cat /proc/net/dev > /dev1\nRUN cat /proc/net/dev > /dev2\n",
    );
    let dest = env.path("out");
    let spec = format!("type=local,dest={}", dest.display());
    let out = output(strata(
        &env,
        &["--progress", "plain", "build", "-o", &spec, &ctx],
    ));
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    let warning = "WARNING: default network bridge unavailable, RUN steps get loopback only: \
                   network bridge: subnet 172.17.0.0/16 overlaps 172.17.0.1/16 of interface docker0";
    assert_eq!(log.matches(warning).count(), 1, "{log}");
    assert_eq!(log.matches("WARNING").count(), 1, "{log}");
    for f in ["dev1", "dev2"] {
        let names: Vec<String> = read(&dest, f)
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .map(|n| n.trim().to_string())
            .collect();
        assert_eq!(names, ["lo"], "{f}");
    }
    assert!(strata_veths().is_empty(), "{}", ip(&["-o", "link"]));
    assert!(!ip(&["-o", "link"]).contains("strata0"));
    assert_eq!(bridge_endpoints(&env), 0);
    let check = env.ok(&["system", "check"]);
    assert!(check.contains("store is clean"), "{check}");
}

/// Starts a build of `ctx` and waits until its RUN says `step-running`; returns the process
/// and the thread collecting its log.
fn running_build(
    env: &Env,
    ctx: &str,
) -> (std::process::Child, std::thread::JoinHandle<String>, bool) {
    let mut child = strata(env, &["--progress", "plain", "build", ctx])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut log = String::new();
        for line in std::io::BufReader::new(stderr).lines() {
            let line = line.unwrap_or_default();
            if line.contains("step-running") && !line.contains("RUN echo") {
                let _ = tx.send(());
            }
            log.push_str(&line);
            log.push('\n');
        }
        log
    });
    let started = rx.recv_timeout(std::time::Duration::from_secs(60)).is_ok();
    (child, reader, started)
}

#[test]
fn interrupted_build_leaves_no_veth() {
    if !in_own_netns("interrupted_build_leaves_no_veth") {
        return;
    }
    let env = Env::new();
    env.import_base("base");
    let ctx = context(
        &env,
        "slow",
        "FROM base\nRUN echo step-running && sleep 120\n",
    );
    let (mut child, reader, started) = running_build(&env, &ctx);
    let during = strata_veths();
    // SIGINT to strata alone (as Ctrl-C would send it to the whole group): strata kills the step.
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let log = reader.join().unwrap();
    assert!(started, "the RUN never started: {log}");
    assert_eq!(during.len(), 1, "the step's veth while it ran: {during:?}");
    assert!(!status.success(), "{log}");
    assert!(log.contains("cancel"), "{log}");
    assert!(strata_veths().is_empty(), "{}", ip(&["-o", "link"]));
    assert_eq!(bridge_endpoints(&env), 0);
    let check = env.ok(&["system", "check"]);
    assert!(check.contains("store is clean"), "{check}");

    // kill -9: the namespace dies with strata and its step, taking the veth pair; the address
    // is a dead build's, which `system check --repair` removes with its endpoint.
    let (mut child, reader, started) = running_build(&env, &ctx);
    let pid = child.id();
    Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    let log = reader.join().unwrap();
    assert!(started, "the RUN never started: {log}");
    // The kernel destroys a namespace (and its veth pair) shortly after its last user died.
    let start = std::time::Instant::now();
    while !strata_veths().is_empty() && start.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(strata_veths().is_empty(), "{}", ip(&["-o", "link"]));
    let check = env.ok(&["system", "check"]);
    assert!(
        check.contains(&format!(
            "garbage: address of dead build-{pid} on network bridge"
        )),
        "{check}"
    );
    env.ok(&["system", "check", "--repair"]);
    assert_eq!(bridge_endpoints(&env), 0);
}
