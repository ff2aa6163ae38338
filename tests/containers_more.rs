//! More container behaviour end to end: signal proxy, images in use, GC, concurrency.

mod common;

use common::Env;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn state(env: &Env, name: &str) -> serde_json::Value {
    let all: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", name])).unwrap();
    all[0]["State"].clone()
}

#[test]
fn ctrl_c_of_an_attached_run_goes_to_the_container() {
    let env = Env::new();
    env.import_base("base");
    let child = env
        .cmd(&[
            "run",
            "--name",
            "proxied",
            "base",
            "sh",
            "-c",
            "trap 'echo got-int; exit 130' INT; echo ready; sleep 30 & wait",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the trap to be set", || {
        String::from_utf8_lossy(&env.run(&["logs", "proxied"]).stdout).contains("ready")
    });
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ready\ngot-int\n");
    assert_eq!(state(&env, "proxied")["ExitCode"], 130);
}

#[test]
fn an_image_in_use_survives_rmi_force_and_gc() {
    let env = Env::new();
    let image_id = env.import_base("base");
    env.ok(&[
        "create",
        "--name",
        "user",
        "base",
        "sh",
        "-c",
        "echo still-here",
    ]);
    let err = env.fails(&["rmi", image_id.trim()], 1);
    assert!(
        err.contains("conflict: unable to delete")
            && err.contains("image is being used by stopped container"),
        "{err}"
    );
    env.ok(&["image", "prune", "-a", "-f"]);
    assert!(env
        .ok(&["images", "-q"])
        .contains(&image_id.trim().trim_start_matches("sha256:")[..12]));
    env.ok(&["rmi", "-f", "base"]);
    // The name is gone, the container's image stays (blobs and snapshots).
    assert_eq!(env.ok(&["images", "-q"]), "");
    let check = env.ok(&["system", "check"]);
    assert!(check.contains("store is clean"), "{check}");
    assert_eq!(env.ok(&["start", "-a", "user"]), "still-here\n");
    let ps = env.ok(&["ps", "-a", "--filter", "ancestor=base", "-q"]);
    assert_eq!(ps.lines().count(), 1);
    env.ok(&["rm", "user"]);
    // Now nothing holds the image's blobs: a check finds them unreferenced, a repair removes them.
    let check = env.ok(&["system", "check", "--repair"]);
    assert!(check.contains("garbage"), "{check}");
    assert!(env.ok(&["system", "check"]).contains("store is clean"));
}

#[test]
fn concurrent_creates_with_one_name_make_one_container() {
    let env = Env::new();
    env.import_base("base");
    let children: Vec<_> = (0..6)
        .map(|_| {
            env.cmd(&["create", "--name", "only-one", "base", "true"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let ok = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(ok, 1);
    for o in outs.iter().filter(|o| !o.status.success()) {
        assert!(String::from_utf8_lossy(&o.stderr).contains("is already in use"));
    }
    assert_eq!(env.ok(&["ps", "-aq"]).lines().count(), 1);
    // Two starts at once: one monitor runs it, the other start fails cleanly.
    env.ok(&["create", "--name", "twice", "base", "sleep", "100"]);
    let a = env
        .cmd(&["start", "twice"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let b = env
        .cmd(&["start", "twice"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() || b.status.success());
    assert_eq!(state(&env, "twice")["Status"], "running");
    env.ok(&["rm", "-f", "twice", "only-one"]);
    assert!(env.ok(&["system", "check"]).contains("store is clean"));
}

#[test]
fn a_tty_container_has_a_named_terminal() {
    let env = Env::new();
    env.import_base("base");
    let out = env.ok(&["run", "--rm", "-t", "base", "tty"]);
    assert_eq!(out, "/dev/console\r\n");
    let id = env.ok(&["create", "-t", "base", "sh", "-c", "tty; touch /made"]);
    let out = env.ok(&["start", "-a", id.trim()]);
    assert_eq!(out, "/dev/console\r\n");
    // Only what the process made is in the container's changes.
    let upper = env
        .root()
        .join("strata/v1/containers")
        .join(id.trim())
        .join("upper");
    let mut names: Vec<String> = std::fs::read_dir(&upper)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["made"]);
}

#[test]
fn ps_formats_and_filters() {
    let env = Env::new();
    env.import_base("base");
    env.ok(&["create", "--name", "one", "base", "true"]);
    assert_eq!(
        env.run(&["run", "--name", "two", "base", "sh", "-c", "exit 2"])
            .status
            .code(),
        Some(2)
    );
    let out = env.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(out, "two exited\none created\n");
    let out = env.ok(&["ps", "-a", "--format", "table {{.Names}}\\t{{.Status}}"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("NAMES   STATUS"), "{out}");
    assert!(lines[1].starts_with("two     Exited (2) "), "{out}");
    assert_eq!(lines[2], "one     Created");
    assert_eq!(
        env.ok(&[
            "ps",
            "-a",
            "--filter",
            "status=created",
            "--format",
            "{{.Names}}"
        ]),
        "one\n"
    );
    assert_eq!(
        env.ok(&["ps", "-a", "--filter", "name=tw", "--format", "{{.Names}}"]),
        "two\n"
    );
    assert_eq!(env.ok(&["ps", "--format", "{{.Names}}"]), "");
    let err = env.fails(&["ps", "--filter", "status=sleeping"], 1);
    assert!(err.contains("Invalid filter 'status=sleeping'"), "{err}");
    let err = env.fails(&["ps", "--format", "{{.Nope}}"], 1);
    assert!(err.contains("unsupported field"), "{err}");
}

#[test]
fn stop_uses_the_images_stopsignal_and_exec_takes_stdin() {
    let env = Env::new();
    let tar = common::base_rootfs();
    env.ok(&[
        "import",
        "-c",
        "STOPSIGNAL SIGUSR1",
        tar.to_str().unwrap(),
        "usr1",
    ]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "polite",
        "usr1",
        "sh",
        "-c",
        "trap 'exit 42' USR1; trap '' TERM; echo ready; while true; do sleep 0.1; done",
    ]);
    wait_until("the traps", || {
        env.ok(&["logs", "polite"]).contains("ready")
    });
    env.ok(&["stop", "-t", "20", "polite"]);
    assert_eq!(state(&env, "polite")["ExitCode"], 42);
    // kill -s picks the signal.
    env.ok(&["start", "polite"]);
    wait_until("the traps again", || {
        env.ok(&["logs", "polite"]).matches("ready").count() == 2
    });
    env.ok(&["kill", "-s", "USR1", "polite"]);
    wait_until("the exit", || state(&env, "polite")["Status"] == "exited");
    assert_eq!(state(&env, "polite")["ExitCode"], 42);
    let err = env.fails(&["kill", "-s", "NOPE", "polite"], 1);
    assert!(
        err.contains("Invalid signal") || err.contains("is not running"),
        "{err}"
    );
    // exec -i: this stdin to the process.
    env.ok(&["start", "polite"]);
    let mut child = env
        .cmd(&[
            "exec",
            "-i",
            "polite",
            "sh",
            "-c",
            "read line; echo got-$line",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"input\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got-input\n");
    env.ok(&["rm", "-f", "polite"]);
}

#[test]
fn a_deleted_store_takes_its_running_containers_with_it() {
    let env = Env::new();
    env.import_base("base");
    let id = env.ok(&["run", "-d", "base", "sleep", "100"]);
    let dir = env.root().join("strata/v1/containers").join(id.trim());
    let monitor = std::fs::read_to_string(dir.join("monitor.pid")).unwrap();
    let monitor = format!("/proc/{}", monitor.trim());
    assert!(std::path::Path::new(&monitor).exists());
    // The running monitor may add a log line while the tree is removed: retry until gone.
    wait_until("the store to be deleted", || {
        std::fs::remove_dir_all(env.root()).is_ok() || !env.root().exists()
    });
    wait_until("the monitor to end", || {
        !std::path::Path::new(&monitor).exists()
            || std::fs::read_to_string(format!("{monitor}/stat")).is_ok_and(|s| s.contains(") Z "))
    });
}
