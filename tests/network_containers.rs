//! Containers on networks, end to end with the real binary. Every test runs in a network
//! namespace of its own (`common::netns`): the bridges, veths, addresses and packets it makes
//! live only there, and its traffic goes to no address outside it.

mod common;

use common::netns::{in_own_netns, ip, Internet};
use common::Env;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn inspect(env: &Env, what: &[&str]) -> serde_json::Value {
    let mut args = vec!["inspect"];
    args.extend(what);
    let v: serde_json::Value = serde_json::from_str(&env.ok(&args)).unwrap();
    v[0].clone()
}

/// `strata exec NAME ARGS`: (success, stdout + stderr).
fn exec(env: &Env, name: &str, args: &[&str]) -> (bool, String) {
    let mut all = vec!["exec", name];
    all.extend(args);
    let out = env.run(&all);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Retries `f` for a few seconds (a detached server needs a moment to listen).
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// A shell command that fetches /index.html from `ip`:80 with nc, giving up after 2 s.
fn get(ip: &str) -> String {
    format!("printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {ip} 80")
}

fn http_get(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn no_cgroup_of(id: &str) -> bool {
    ["memory", "pids", "cpu", "freezer", "unified"]
        .iter()
        .all(|c| !std::path::Path::new(&format!("/sys/fs/cgroup/{c}/strata/{id}")).exists())
        && !std::path::Path::new(&format!("/sys/fs/cgroup/strata/{id}")).exists()
}

#[test]
fn user_networks_names_isolation_publish_and_cleanup() {
    if !in_own_netns("user_networks_names_isolation_publish_and_cleanup") {
        return;
    }
    let env = Env::new();
    env.import_base("base");
    env.ok(&["network", "create", "--subnet", "10.61.0.0/24", "app"]);
    env.ok(&["network", "create", "--subnet", "10.62.0.0/24", "other"]);
    env.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.63.0.0/24",
        "closed",
    ]);
    let web = env.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "app",
        "--network-alias",
        "www",
        "-p",
        "18080:80",
        "base",
        "sh",
        "-c",
        "echo hello-web > /tmp/index.html && exec httpd -f -p 80 -h /tmp",
    ]);
    let web = web.trim().to_string();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "client",
        "--network",
        "app",
        "base",
        "sleep",
        "600",
    ]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "outsider",
        "--network",
        "other",
        "base",
        "sleep",
        "600",
    ]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "locked",
        "--network",
        "closed",
        "base",
        "sleep",
        "600",
    ]);

    // Same network: by name and alias, ping, wget and nc.
    assert!(
        eventually(
            || exec(&env, "client", &["wget", "-qO-", "http://web/index.html"]).1 == "hello-web\n"
        ),
        "{:?}",
        exec(&env, "client", &["wget", "-qO-", "http://web/index.html"])
    );
    let (ok, out) = exec(&env, "client", &["ping", "-c", "1", "-W", "2", "web"]);
    assert!(ok && out.contains("10.61.0.2"), "{out}");
    let (ok, out) = exec(&env, "client", &["wget", "-qO-", "http://www/index.html"]);
    assert!(ok && out == "hello-web\n", "{out}");
    let (ok, out) = exec(
        &env,
        "client",
        &[
            "sh",
            "-c",
            "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 www 80",
        ],
    );
    assert!(ok && out.contains("hello-web"), "{out}");
    let w = inspect(&env, &["web"]);
    assert_eq!(
        w["NetworkSettings"]["Networks"]["app"]["IPAddress"],
        "10.61.0.2"
    );
    assert_eq!(
        w["NetworkSettings"]["Networks"]["app"]["MacAddress"],
        "02:42:0a:3d:00:02"
    );
    assert_eq!(w["HostConfig"]["NetworkMode"], "app");
    let n: serde_json::Value =
        serde_json::from_str(&env.ok(&["network", "inspect", "app"])).unwrap();
    assert_eq!(n[0]["Containers"][&web]["Name"], "web");
    assert_eq!(n[0]["Containers"][&web]["IPv4Address"], "10.61.0.2/24");
    assert_eq!(n[0]["Containers"].as_object().unwrap().len(), 2);

    // Published port, from the namespace's loopback; ps shows it as docker does.
    let ps = env.ok(&["ps", "--filter", "name=web"]);
    assert!(ps.contains("127.0.0.1:18080->80/tcp"), "{ps}");
    let page = http_get(18080).unwrap_or_default();
    assert!(page.contains("hello-web"), "{page}");

    // Another network: neither the name nor the address reaches it.
    let (ok, out) = exec(&env, "outsider", &["ping", "-c", "1", "-W", "1", "web"]);
    assert!(!ok, "{out}");
    // (nc -w: this busybox's `wget -T` crashes.)
    let (_, out) = exec(&env, "outsider", &["sh", "-c", &get("10.61.0.2")]);
    assert!(
        !out.contains("hello-web"),
        "other network reached web: {out}"
    );
    // Internal: no default route, nothing outside its subnet is reachable.
    let (_, routes) = exec(&env, "locked", &["ip", "route"]);
    assert!(!routes.contains("default"), "{routes}");
    let (ok, out) = exec(&env, "locked", &["ping", "-c", "1", "-W", "1", "10.62.0.1"]);
    assert!(
        !ok,
        "internal network reached another network's address: {out}"
    );

    // Outbound: an "internet" of the test's own, a namespace behind a veth that knows no
    // route back to the containers' subnets, so only masqueraded traffic gets an answer.
    let docroot = env.path("outside");
    std::fs::create_dir_all(&docroot).unwrap();
    std::fs::write(docroot.join("index.html"), "hello-outside\n").unwrap();
    let outside = Internet::start(&docroot);
    let fetch = || exec(&env, "client", &["sh", "-c", &get("198.51.100.2")]);
    assert!(eventually(|| fetch().1.contains("hello-outside")));
    let (ok, out) = fetch();
    assert!(
        ok && out.contains("hello-outside"),
        "outbound from a bridge network: {out}"
    );
    let (_, out) = exec(&env, "locked", &["sh", "-c", &get("198.51.100.2")]);
    assert!(
        !out.contains("hello-outside"),
        "an internal network got out: {out}"
    );
    drop(outside);

    // Bad input: docker's errors, nothing changed.
    let containers_before = env.ok(&["ps", "-a", "-q"]);
    let err = env.fails(&["network", "connect", "app", "client"], 1);
    assert!(
        err.contains("endpoint with name client already exists in network app"),
        "{err}"
    );
    let err = env.fails(&["network", "rm", "app"], 1);
    assert!(
        err.contains("network app id") && err.contains("has active endpoints"),
        "{err}"
    );
    let out = env.run(&["run", "--network", "nosuch", "base", "true"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("network nosuch not found"));
    assert_eq!(env.ok(&["ps", "-a", "-q"]), containers_before);

    // disconnect cuts the container off; connect with an alias brings it back, by name too.
    env.ok(&["network", "disconnect", "app", "client"]);
    let (ok, _) = exec(&env, "client", &["ping", "-c", "1", "-W", "1", "10.61.0.2"]);
    assert!(!ok, "a disconnected container reached web");
    let (_, hosts) = exec(&env, "client", &["cat", "/etc/hosts"]);
    assert!(!hosts.contains("web"), "{hosts}");
    let err = env.fails(&["network", "disconnect", "app", "client"], 1);
    assert!(err.contains("is not connected to network app"), "{err}");
    env.ok(&["network", "connect", "--alias", "cl", "app", "client"]);
    let (ok, out) = exec(&env, "web", &["ping", "-c", "1", "-W", "2", "cl"]);
    assert!(ok, "{out}");
    let (ok, out) = exec(&env, "client", &["wget", "-qO-", "http://www/index.html"]);
    assert!(ok && out == "hello-web\n", "{out}");
    // Connecting a running container to a second network gives it a second interface.
    env.ok(&["network", "connect", "other", "client"]);
    let (ok, out) = exec(&env, "client", &["ping", "-c", "1", "-W", "2", "outsider"]);
    assert!(ok, "{out}");

    // Removal leaves nothing: interfaces, addresses, cgroups, mounts.
    let ids: Vec<String> = env
        .ok(&["ps", "-q", "--no-trunc"])
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(ids.len(), 4);
    env.ok(&["rm", "-f", "web", "client", "outsider", "locked"]);
    env.ok(&["network", "rm", "app", "other", "closed"]);
    let links = ip(&["-o", "link"]);
    assert_eq!(links.lines().count(), 1, "{links}");
    for id in &ids {
        assert!(no_cgroup_of(id), "cgroup of {id} left");
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(env.root().to_str().unwrap()), "{mounts}");
    assert!(
        http_get(18080).is_none(),
        "the proxy outlived its container"
    );
    let check = env.ok(&["system", "check"]);
    assert!(check.contains("store is clean"), "{check}");
}

#[test]
fn default_bridge_and_killed_monitor() {
    if !in_own_netns("default_bridge_and_killed_monitor") {
        return;
    }
    let env = Env::new();
    env.import_base("base");
    let run = |args: &[&str]| {
        let out = env
            .cmd(args)
            .env_remove("STRATA_DEFAULT_NETWORK")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    run(&["run", "-d", "--name", "ca", "base", "sleep", "600"]);
    run(&["run", "-d", "--name", "cb", "base", "sleep", "600"]);
    let a = inspect(&env, &["ca"]);
    assert_eq!(a["HostConfig"]["NetworkMode"], "bridge");
    assert_eq!(
        a["NetworkSettings"]["Networks"]["bridge"]["IPAddress"],
        "172.17.0.2"
    );
    assert_eq!(
        a["NetworkSettings"]["Networks"]["bridge"]["Gateway"],
        "172.17.0.1"
    );
    assert!(ip(&["-4", "addr", "show", "dev", "strata0"]).contains("172.17.0.1/16"));
    let (ok, out) = exec(&env, "cb", &["ping", "-c", "1", "-W", "2", "172.17.0.2"]);
    assert!(ok, "{out}");
    // docker resolves no names on the default bridge.
    let (ok, _) = exec(&env, "cb", &["ping", "-c", "1", "-W", "1", "ca"]);
    assert!(!ok);
    let out = env.run(&[
        "run",
        "--network",
        "bridge",
        "--ip",
        "172.17.0.9",
        "base",
        "true",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("user specified IP address is supported on user defined networks only"));

    // kill -9 of a's monitor: the container dies with it, and its address is free again.
    let monitor: i32 = std::fs::read_to_string(
        env.root()
            .join("strata/v1/containers")
            .join(a["Id"].as_str().unwrap())
            .join("monitor.pid"),
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    std::process::Command::new("kill")
        .args(["-9", &monitor.to_string()])
        .status()
        .unwrap();
    assert!(eventually(|| {
        let n: serde_json::Value =
            serde_json::from_str(&env.ok(&["network", "inspect", "bridge"])).unwrap();
        n[0]["Containers"].as_object().unwrap().len() == 1
    }));
    let check = env.ok(&["system", "check"]);
    assert!(
        check.contains("garbage: address of dead container"),
        "{check}"
    );
    env.ok(&["system", "check", "--repair"]);
    run(&["run", "-d", "--name", "cc", "base", "sleep", "600"]);
    assert_eq!(
        inspect(&env, &["cc"])["NetworkSettings"]["Networks"]["bridge"]["IPAddress"],
        "172.17.0.2"
    );
    env.ok(&["rm", "-f", "ca", "cb", "cc"]);
    let links = ip(&["-o", "link"]);
    assert_eq!(links.lines().count(), 2, "lo and strata0 only: {links}");
    let check = env.ok(&["system", "check"]);
    assert!(check.contains("store is clean"), "{check}");
}
