//! Containers end to end: the real binary, the busybox base image, real namespaces.

mod common;

use common::Env;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn containers_dir(env: &Env) -> PathBuf {
    env.root().join("strata/v1/containers")
}

fn entries(dir: &std::path::Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(e) => e
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => vec![],
    }
}

/// Lines of `ps -a --format json`, parsed.
fn ps_all(env: &Env) -> Vec<serde_json::Value> {
    env.ok(&["ps", "-a", "--no-trunc", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("ps json"))
        .collect()
}

fn status_of(env: &Env, name: &str) -> String {
    ps_all(env)
        .into_iter()
        .find(|c| c["Names"] == name)
        .map(|c| c["Status"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn mounts_mentioning(path: &std::path::Path) -> Vec<String> {
    let p = path.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&p))
        .map(String::from)
        .collect()
}

#[test]
fn run_rm_leaves_nothing_behind() {
    let env = Env::new();
    env.import_base("base");
    let out = env.ok(&[
        "run",
        "--rm",
        "base",
        "sh",
        "-c",
        "echo hello; echo oops >&2",
    ]);
    assert_eq!(out, "hello\n");
    let out = env.run(&["run", "--rm", "base", "sh", "-c", "touch /new; exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    assert!(ps_all(&env).is_empty());
    assert!(
        entries(&containers_dir(&env)).is_empty(),
        "{:?}",
        entries(&containers_dir(&env))
    );
    assert!(mounts_mentioning(&env.root()).is_empty());
    let check = env.ok(&["system", "check"]);
    assert!(check.contains("store is clean"), "{check}");
    // A command that cannot run: docker's 127, and --rm still removes the container.
    let err = env.fails(&["run", "--rm", "base", "no-such-command"], 127);
    assert!(err.contains("no-such-command"), "{err}");
    assert!(ps_all(&env).is_empty());
}

#[test]
fn detached_logs_follow_stop_and_exit_status() {
    let env = Env::new();
    env.import_base("base");
    let script = "trap 'echo bye; exit 143' TERM; echo start; echo to-stderr >&2; \
                  while true; do echo tick; sleep 0.2; done";
    let id = env.ok(&["run", "-d", "--name", "ticker", "base", "sh", "-c", script]);
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    assert!(status_of(&env, "ticker").starts_with("Up "));
    let follower = env
        .cmd(&["logs", "-f", "ticker"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("ticks in the log", || {
        env.ok(&["logs", "ticker"]).matches("tick").count() >= 3
    });
    assert_eq!(env.ok(&["stop", "ticker"]), "ticker\n");
    // logs -f ends by itself once the container stopped, with everything it wrote.
    let out = follower.wait_with_output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("start\ntick\n"), "{stdout}");
    assert!(stdout.ends_with("bye\n"), "{stdout}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "to-stderr\n");
    let status = status_of(&env, "ticker");
    assert!(status.starts_with("Exited (143) "), "{status}");
    let table = env.ok(&["ps", "-a"]);
    assert!(
        table.starts_with("CONTAINER ID   IMAGE   COMMAND"),
        "{table}"
    );
    assert!(
        table.contains(&id[..12]) && table.contains("Exited (143)"),
        "{table}"
    );
    assert_eq!(env.ok(&["ps", "-q"]), "");
    assert_eq!(
        env.ok(&["ps", "-aq", "--filter", "exited=143"]).trim(),
        &id[..12]
    );
    assert_eq!(env.ok(&["ps", "-aq", "--filter", "exited=0"]), "");
    assert_eq!(
        env.ok(&["ps", "-aq", "--filter", "status=exited"]).trim(),
        &id[..12]
    );
    let tail = env.ok(&["logs", "--tail", "1", "ticker"]);
    assert_eq!(tail, "bye\n");
    let stamped = env.ok(&["logs", "-t", "--tail", "1", "ticker"]);
    assert!(
        stamped.ends_with("Z bye\n") && stamped.starts_with("20"),
        "{stamped}"
    );
    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "ticker"])).unwrap();
    let c = &inspect[0];
    assert_eq!(c["Id"], id.as_str());
    assert_eq!(c["Name"], "/ticker");
    assert_eq!(c["State"]["Status"], "exited");
    assert_eq!(c["State"]["ExitCode"], 143);
    assert_eq!(c["State"]["Running"], false);
    assert_eq!(c["Path"], "sh");
    assert_eq!(c["GraphDriver"]["Name"], "overlay");
    assert!(c["GraphDriver"]["Data"]["UpperDir"]
        .as_str()
        .unwrap()
        .ends_with("/upper"));
    // Started again: the same container, the log goes on.
    env.ok(&["start", "ticker"]);
    assert!(status_of(&env, "ticker").starts_with("Up "));
    env.ok(&["stop", "-t", "5", "ticker"]);
    assert_eq!(env.ok(&["logs", "ticker"]).matches("start\n").count(), 2);
    env.ok(&["rm", "ticker"]);
    assert!(ps_all(&env).is_empty());
}

#[test]
fn stop_kills_a_container_that_ignores_sigterm() {
    let env = Env::new();
    env.import_base("base");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        "base",
        "sh",
        "-c",
        "trap '' TERM; sleep 100",
    ]);
    let started = Instant::now();
    assert_eq!(env.ok(&["stop", "-t", "1", "stubborn"]), "stubborn\n");
    assert!(started.elapsed() < Duration::from_secs(60));
    let status = status_of(&env, "stubborn");
    assert!(status.starts_with("Exited (137) "), "{status}");
    // Stopping a stopped container is fine; removing a running one needs -f.
    env.ok(&["stop", "stubborn"]);
    env.ok(&["run", "-d", "--name", "busy", "base", "sleep", "100"]);
    let err = env.fails(&["rm", "busy"], 1);
    assert!(
        err.contains("You cannot remove a running container"),
        "{err}"
    );
    env.ok(&["kill", "busy"]);
    assert!(status_of(&env, "busy").starts_with("Exited (137)"));
    env.ok(&["rm", "stubborn", "busy"]);
    env.ok(&["run", "-d", "--name", "forced", "base", "sleep", "100"]);
    env.ok(&["rm", "-f", "forced"]);
    assert!(ps_all(&env).is_empty());
    assert!(env.ok(&["system", "check"]).contains("store is clean"));
}

#[test]
fn exec_joins_the_containers_namespaces() {
    let env = Env::new();
    env.import_base("base");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "host1",
        "--hostname",
        "inside",
        "-e",
        "FOO=bar",
        "base",
        "sleep",
        "100",
    ]);
    let ps = env.ok(&["exec", "host1", "ps"]);
    let lines: Vec<&str> = ps.lines().collect();
    assert!(lines[0].contains("PID"), "{ps}");
    let first: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(first[0], "1", "{ps}");
    assert_eq!(first[2..], ["sleep", "100"], "{ps}");
    // Only the container's processes: sleep and ps itself.
    assert_eq!(lines.len(), 3, "{ps}");
    let out = env.ok(&[
        "exec",
        "-e",
        "X=1",
        "-w",
        "/tmp",
        "host1",
        "sh",
        "-c",
        "hostname; pwd; echo $FOO$X; id -u",
    ]);
    assert_eq!(out, "inside\n/tmp\nbar1\n0\n");
    let out = env.run(&["exec", "host1", "sh", "-c", "exit 4"]);
    assert_eq!(out.status.code(), Some(4));
    let out = env.ok(&["exec", "-u", "nobody", "host1", "id", "-u"]);
    assert_eq!(out.trim(), "65534");
    // A file written through exec is in the container's file system.
    env.ok(&["exec", "host1", "sh", "-c", "echo via-exec > /marker"]);
    let upper = containers_dir(&env)
        .join(ps_all(&env)[0]["ID"].as_str().unwrap())
        .join("upper/marker");
    assert_eq!(std::fs::read_to_string(upper).unwrap(), "via-exec\n");
    // exec -d runs on in the background.
    env.ok(&["exec", "-d", "host1", "sh", "-c", "sleep 0.2; touch /later"]);
    wait_until("exec -d", || {
        env.run(&["exec", "host1", "test", "-e", "/later"])
            .status
            .success()
    });
    let top = env.ok(&["top", "host1"]);
    assert!(top.starts_with("UID"), "{top}");
    assert!(top.contains("sleep 100"), "{top}");
    env.ok(&["rm", "-f", "host1"]);
    let err = env.fails(&["exec", "host1", "true"], 1);
    assert!(err.contains("No such container: host1"), "{err}");
}

#[test]
fn containers_of_one_image_do_not_see_each_others_files() {
    let env = Env::new();
    env.import_base("base");
    env.ok(&[
        "create",
        "--name",
        "first",
        "base",
        "sh",
        "-c",
        "echo from-a > /shared; rm /etc/passwd; cat /shared",
    ]);
    env.ok(&[
        "create",
        "--name",
        "second",
        "base",
        "sh",
        "-c",
        "cat /shared 2>&1; test -e /etc/passwd && echo passwd-ok",
    ]);
    let a = env.ok(&["start", "-a", "first"]);
    assert_eq!(a, "from-a\n");
    let b = env.run(&["start", "-a", "second"]);
    let b_out = String::from_utf8_lossy(&b.stdout);
    assert!(
        b_out.contains("No such file") && b_out.contains("passwd-ok"),
        "{b_out}"
    );
    // The image itself is untouched.
    assert_eq!(
        env.ok(&["run", "--rm", "base", "cat", "/etc/passwd"])
            .lines()
            .next()
            .unwrap()
            .split(':')
            .next(),
        Some("root")
    );
    // The image is in use: rmi refuses without -f, as docker does.
    let err = env.fails(&["rmi", "base"], 1);
    assert!(
        err.contains(
            "conflict: unable to remove repository reference \"base\" (must force) - container"
        ),
        "{err}"
    );
    env.ok(&["container", "prune", "-f"]);
    assert!(ps_all(&env).is_empty());
    env.ok(&["rmi", "base"]);
}

#[test]
fn a_killed_monitor_leaves_an_exited_container_and_a_clean_store() {
    let env = Env::new();
    env.import_base("base");
    let id = env.ok(&["run", "-d", "--name", "orphan", "base", "sleep", "100"]);
    let dir = containers_dir(&env).join(id.trim());
    let monitor: i32 = std::fs::read_to_string(dir.join("monitor.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "orphan"])).unwrap();
    let pid = inspect[0]["State"]["Pid"].as_i64().unwrap();
    assert!(pid > 0);
    assert!(std::process::Command::new("kill")
        .args(["-9", &monitor.to_string()])
        .status()
        .unwrap()
        .success());
    // The container's process dies with its monitor.
    wait_until("the container's process to end", || {
        !PathBuf::from(format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z "))
    });
    let status = status_of(&env, "orphan");
    assert!(status.starts_with("Exited (137)"), "{status}");
    let check = env.ok(&["system", "check"]);
    assert!(check.contains("store is clean"), "{check}");
    assert!(mounts_mentioning(&env.root()).is_empty());
    // It can be started again and removed.
    env.ok(&["start", "orphan"]);
    assert!(status_of(&env, "orphan").starts_with("Up"));
    env.ok(&["rm", "-f", "orphan"]);
    assert!(entries(&containers_dir(&env)).is_empty());
}

#[test]
fn name_clashes_and_ambiguous_prefixes_change_nothing() {
    let env = Env::new();
    env.import_base("base");
    let first = env.ok(&["create", "--name", "taken", "base", "true"]);
    let err = env.fails(&["create", "--name", "taken", "base", "true"], 1);
    assert!(
        err.contains(&format!(
            "Conflict. The container name \"/taken\" is already in use by container \"{}\"",
            first.trim()
        )),
        "{err}"
    );
    let err = env.fails(&["run", "--name", "taken", "base", "true"], 1);
    assert!(err.contains("is already in use"), "{err}");
    let err = env.fails(&["create", "--name", "bad name", "base", "true"], 1);
    assert!(err.contains("Invalid container name"), "{err}");
    assert_eq!(ps_all(&env).len(), 1);
    assert_eq!(entries(&containers_dir(&env)).len(), 1);
    // Generated names look like docker's.
    env.ok(&["create", "base", "true"]);
    let generated = ps_all(&env)
        .into_iter()
        .map(|c| c["Names"].as_str().unwrap().to_string())
        .find(|n| n != "taken")
        .unwrap();
    let (left, right) = generated.split_once('_').unwrap();
    assert!(
        !left.is_empty()
            && right
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
        "{generated}"
    );
    // Make two IDs share their first character.
    let mut ids: Vec<String> = ps_all(&env)
        .iter()
        .map(|c| c["ID"].as_str().unwrap().to_string())
        .collect();
    let prefix = loop {
        if let Some(p) = ids.iter().enumerate().find_map(|(i, a)| {
            ids[i + 1..]
                .iter()
                .find(|b| b[..1] == a[..1])
                .map(|_| a[..1].to_string())
        }) {
            break p;
        }
        ids.push(env.ok(&["create", "base", "true"]).trim().to_string());
    };
    let before = ps_all(&env).len();
    let err = env.fails(&["rm", &prefix], 1);
    assert!(
        err.contains(&format!(
            "multiple IDs found with provided prefix: {prefix}"
        )),
        "{err}"
    );
    let err = env.fails(&["start", &prefix], 1);
    assert!(err.contains("multiple IDs found"), "{err}");
    assert_eq!(ps_all(&env).len(), before);
    assert!(ps_all(&env).iter().all(|c| c["State"] == "created"));
    // A unique prefix works.
    let one = &ids[0];
    let unique = (1..=64)
        .map(|n| &one[..n])
        .find(|p| ids.iter().filter(|i| i.starts_with(p)).count() == 1)
        .unwrap();
    env.ok(&["rm", unique]);
    assert_eq!(ps_all(&env).len(), before - 1);
    let err = env.fails(&["rm", "nothing-like-this"], 1);
    assert!(
        err.contains("No such container: nothing-like-this"),
        "{err}"
    );
}

#[test]
fn tty_output_has_carriage_returns_and_pipes_do_not() {
    let env = Env::new();
    env.import_base("base");
    let out = env.ok(&[
        "run",
        "--rm",
        "-t",
        "base",
        "sh",
        "-c",
        "echo one; echo two; test -t 0 && echo tty",
    ]);
    assert_eq!(out, "one\r\ntwo\r\ntty\r\n");
    let out = env.ok(&[
        "run",
        "--rm",
        "base",
        "sh",
        "-c",
        "echo one; test -t 0 || echo notty",
    ]);
    assert_eq!(out, "one\nnotty\n");
    // -i forwards stdin (and its end).
    let mut child = env
        .cmd(&["run", "--rm", "-i", "base", "sh", "-c", "tr a-z A-Z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"shout\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "SHOUT\n");
    // exec -t too.
    env.ok(&["run", "-d", "--name", "tt", "base", "sleep", "100"]);
    let out = env.ok(&[
        "exec",
        "-t",
        "tt",
        "sh",
        "-c",
        "echo a; test -t 1 && echo tty",
    ]);
    assert_eq!(out, "a\r\ntty\r\n");
    env.ok(&["rm", "-f", "tt"]);
}

fn inspect(env: &Env, name: &str) -> serde_json::Value {
    let all: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", name])).unwrap();
    all[0].clone()
}

#[test]
fn pause_freezes_and_unpause_thaws() {
    if !PathBuf::from("/sys/fs/cgroup/freezer/cgroup.procs").exists()
        && !PathBuf::from("/sys/fs/cgroup/cgroup.controllers").exists()
    {
        let env = Env::new();
        env.import_base("base");
        env.ok(&["run", "-d", "--name", "nofreeze", "base", "sleep", "100"]);
        let err = env.fails(&["pause", "nofreeze"], 1);
        assert!(err.contains("cgroup freezer"), "{err}");
        env.ok(&["rm", "-f", "nofreeze"]);
        return;
    }
    let env = Env::new();
    env.import_base("base");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "counter",
        "base",
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i > /count; sleep 0.05; done",
    ]);
    let read = || {
        env.ok(&["exec", "counter", "cat", "/count"])
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
    };
    wait_until("counting", || read() > 2);
    assert_eq!(env.ok(&["pause", "counter"]), "counter\n");
    assert!(
        status_of(&env, "counter").ends_with("(Paused)"),
        "{}",
        status_of(&env, "counter")
    );
    assert_eq!(inspect(&env, "counter")["State"]["Paused"], true);
    let upper = containers_dir(&env)
        .join(inspect(&env, "counter")["Id"].as_str().unwrap())
        .join("upper/count");
    let frozen = std::fs::read_to_string(&upper).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(std::fs::read_to_string(&upper).unwrap(), frozen);
    let err = env.fails(&["exec", "counter", "true"], 1);
    assert!(err.contains("is paused"), "{err}");
    let err = env.fails(&["pause", "counter"], 1);
    assert!(err.contains("already paused"), "{err}");
    env.ok(&["unpause", "counter"]);
    // The freeze may land between the shell's truncation of /count and its write: empty.
    let before: u64 = frozen.trim().parse().unwrap_or(0);
    wait_until("counting again", || read() > before + 2);
    // A paused container stops too (thawed first).
    env.ok(&["pause", "counter"]);
    env.ok(&["stop", "-t", "1", "counter"]);
    assert!(status_of(&env, "counter").starts_with("Exited"));
    env.ok(&["rm", "counter"]);
}

#[test]
fn restart_policies_and_restart() {
    let env = Env::new();
    env.import_base("base");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "base",
        "sh",
        "-c",
        "echo run; exit 3",
    ]);
    wait_until("the retries to end", || {
        let c = inspect(&env, "flaky");
        c["State"]["Status"] == "exited" && c["RestartCount"] == 2
    });
    std::thread::sleep(Duration::from_millis(300));
    let c = inspect(&env, "flaky");
    assert_eq!(c["RestartCount"], 2);
    assert_eq!(c["State"]["ExitCode"], 3);
    assert_eq!(c["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(env.ok(&["logs", "flaky"]), "run\nrun\nrun\n");
    // always: restarted after a clean exit, until stopped.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "again",
        "--restart",
        "always",
        "base",
        "sh",
        "-c",
        "echo up; sleep 0.2",
    ]);
    wait_until("two restarts", || {
        inspect(&env, "again")["RestartCount"].as_u64().unwrap_or(0) >= 2
    });
    env.ok(&["stop", "again"]);
    let count = inspect(&env, "again")["RestartCount"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        inspect(&env, "again")["RestartCount"].as_u64().unwrap(),
        count
    );
    assert!(status_of(&env, "again").starts_with("Exited"));
    // restart: a new process in the same container.
    env.ok(&["run", "-d", "--name", "svc", "base", "sleep", "100"]);
    let first = inspect(&env, "svc")["State"]["StartedAt"].clone();
    assert_eq!(env.ok(&["restart", "-t", "0", "svc"]), "svc\n");
    let c = inspect(&env, "svc");
    assert_eq!(c["State"]["Status"], "running");
    assert_ne!(c["State"]["StartedAt"], first);
    let err = env.fails(&["run", "--rm", "--restart", "always", "base", "true"], 1);
    assert!(
        err.contains("Conflicting options: --restart and --rm"),
        "{err}"
    );
    env.ok(&["rm", "-f", "flaky", "again", "svc"]);
}

#[test]
fn volumes_env_entrypoint_workdir_user() {
    let env = Env::new();
    env.import_base("base");
    let rw = env.path("rw");
    let ro = env.path("ro");
    std::fs::create_dir_all(&rw).unwrap();
    std::fs::create_dir_all(&ro).unwrap();
    // The container's user (app, 1000) writes there.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&rw, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(ro.join("given"), "from host\n").unwrap();
    std::fs::write(
        env.path("env.list"),
        "# comment\nFROM_FILE=yes\n\nBOTH=file\n",
    )
    .unwrap();
    let rw_spec = format!("{}:/data", rw.display());
    let ro_spec = format!("{}:/ro:ro", ro.display());
    let envfile = env.path("env.list");
    let out = env.ok(&[
        "run", "--name", "vols", "-v", &rw_spec, "-v", &ro_spec, "--env-file", envfile.to_str().unwrap(),
        "-e", "BOTH=flag", "-w", "/data", "-u", "app", "base", "sh", "-c",
        "echo written > out; cat /ro/given; touch /ro/x 2>/dev/null || echo ro-refused; echo $FROM_FILE $BOTH; pwd; id -u",
    ]);
    assert_eq!(out, "from host\nro-refused\nyes flag\n/data\n1000\n");
    assert_eq!(
        std::fs::read_to_string(rw.join("out")).unwrap(),
        "written\n"
    );
    // The mount points the sandbox made are not left in the container's changes.
    let id = inspect(&env, "vols")["Id"].as_str().unwrap().to_string();
    let upper = containers_dir(&env).join(&id).join("upper");
    assert!(
        !upper.join("data").exists() && !upper.join("ro").exists(),
        "{:?}",
        entries(&upper)
    );
    let c = inspect(&env, "vols");
    assert_eq!(
        c["HostConfig"]["Binds"][1],
        format!("{}:/ro:ro", ro.display())
    );
    assert_eq!(c["Config"]["User"], "app");
    let out = env.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "echo",
        "base",
        "via",
        "entrypoint",
    ]);
    assert_eq!(out, "via entrypoint\n");
    let err = env.fails(&["run", "--rm", "-v", "relative:/x", "base", "true"], 1);
    assert!(err.contains("must be absolute"), "{err}");
    let err = env.fails(&["run", "--rm", "--network", "bridge0", "base", "true"], 1);
    assert!(err.contains("network bridge0 not found"), "{err}");
    // --network host sees the host's interfaces; none only loopback.
    let none = env.ok(&["run", "--rm", "base", "ls", "/sys/class/net"]);
    assert_eq!(none.split_whitespace().collect::<Vec<_>>(), ["lo"]);
    let host = env.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "base",
        "ls",
        "/sys/class/net",
    ]);
    let host_ifaces = std::fs::read_dir("/sys/class/net").unwrap().count();
    assert_eq!(host.split_whitespace().count(), host_ifaces, "{host}");
    // inspect: images first, then containers; unknown names are docker's error.
    assert!(inspect(&env, "base")["RootFS"].is_object());
    let err = env.fails(&["inspect", "nothing-here"], 1);
    assert!(err.contains("No such object: nothing-here"), "{err}");
    env.ok(&["rm", "vols"]);
}

/// Runs `strata ARGS` on a pty (through `script`), feeding `input` chunks with pauses.
fn on_pty(env: &Env, args: &[&str], input: &[&[u8]]) -> (Option<i32>, String) {
    use std::io::Write;
    let mut line = format!("{} --root {}", common::strata_bin(), env.root().display());
    for a in args {
        line.push_str(&format!(" '{a}'"));
    }
    let mut child = std::process::Command::new("script")
        .args(["-qefc", &line, "/dev/null"])
        .env("STRATA_DEFAULT_NETWORK", "none")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (bsdutils)");
    let mut stdin = child.stdin.take().unwrap();
    for chunk in input {
        std::thread::sleep(Duration::from_millis(700));
        stdin.write_all(chunk).unwrap();
        stdin.flush().unwrap();
    }
    std::thread::sleep(Duration::from_millis(700));
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn interactive_tty_detach_and_attach() {
    let env = Env::new();
    env.import_base("base");
    let (code, out) = on_pty(
        &env,
        &["run", "-it", "--name", "shell", "base", "sh"],
        &[b"echo hello-$((6*7))\n", b"\x10\x11"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("hello-42"), "{out}");
    // Detached: the container runs on, and attach picks it up again.
    assert!(status_of(&env, "shell").starts_with("Up"));
    let (code, out) = on_pty(
        &env,
        &["attach", "shell"],
        &[b"echo again-$((1+1))\n", b"exit 5\n"],
    );
    assert!(out.contains("again-2"), "{out}");
    assert_eq!(code, Some(5), "{out}");
    wait_until("the shell to exit", || {
        status_of(&env, "shell").starts_with("Exited (5)")
    });
    let err = env.fails(&["attach", "shell"], 1);
    assert!(
        err.contains("You cannot attach to a stopped container"),
        "{err}"
    );
    // The log has the session, with the pty's line endings.
    assert!(env.ok(&["logs", "shell"]).contains("hello-42\r\n"));
    env.ok(&["rm", "shell"]);
}
