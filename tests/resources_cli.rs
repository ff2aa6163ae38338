//! Resource limits end to end: `run`/`create` put each container in a cgroup with its
//! `--memory`, `--pids-limit`, `--cpus`, ... (v1 or v2, whichever this host has); `stats`
//! reads them; `build` applies them to its RUN steps. No network is involved (containers run
//! with `--network none`, the test default).

mod common;

use common::Env;

fn inspect(env: &Env, what: &[&str]) -> serde_json::Value {
    let mut args = vec!["inspect"];
    args.extend(what);
    let v: serde_json::Value = serde_json::from_str(&env.ok(&args)).unwrap();
    v[0].clone()
}

fn no_cgroup_of(id: &str) -> bool {
    ["memory", "pids", "cpu", "freezer"]
        .iter()
        .all(|c| !std::path::Path::new(&format!("/sys/fs/cgroup/{c}/strata/{id}")).exists())
        && !std::path::Path::new(&format!("/sys/fs/cgroup/strata/{id}")).exists()
}

#[test]
fn resource_limits() {
    let env = Env::new();
    env.import_base("base");
    // OOM: exit 137, OOMKilled in inspect, Exited (137) in ps -a.
    let out = env.run(&[
        "run",
        "--name",
        "hog",
        "--memory",
        "32m",
        "base",
        "sh",
        "-c",
        "dd if=/dev/zero of=/dev/null bs=64M count=1",
    ]);
    assert_eq!(out.status.code(), Some(137), "{out:?}");
    let hog = inspect(&env, &["hog"]);
    assert_eq!(hog["State"]["OOMKilled"], true);
    assert_eq!(hog["State"]["ExitCode"], 137);
    assert_eq!(hog["HostConfig"]["Memory"], 32 << 20);
    let ps = env.ok(&["ps", "-a", "--filter", "name=hog"]);
    assert!(ps.contains("Exited (137)"), "{ps}");
    // Within the limit: no OOM.
    env.ok(&[
        "run",
        "--name",
        "fits",
        "--memory",
        "64m",
        "base",
        "sh",
        "-c",
        "dd if=/dev/zero of=/dev/null bs=8M count=1",
    ]);
    assert_eq!(inspect(&env, &["fits"])["State"]["OOMKilled"], false);

    // A fork loop stops at --pids-limit.
    let out = env.run(&[
        "run",
        "--pids-limit",
        "20",
        "base",
        "sh",
        "-c",
        "i=0; while [ $i -lt 40 ]; do sleep 5 & i=$((i+1)); done; echo all-forked",
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("can't fork") && !text.contains("all-forked"),
        "{text}"
    );

    // stats shows the limit.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "lim",
        "--memory",
        "48m",
        "--pids-limit",
        "30",
        "--cpus",
        "0.5",
        "--ulimit",
        "nofile=512:1024",
        "base",
        "sleep",
        "600",
    ]);
    let stats = env.ok(&["stats", "--no-stream"]);
    let lines: Vec<&str> = stats.lines().collect();
    assert!(
        lines[0].starts_with("CONTAINER ID")
            && lines[0].contains("MEM USAGE / LIMIT")
            && lines[0].contains("PIDS"),
        "{stats}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("lim") && l.contains("/ 48MiB")),
        "{stats}"
    );
    let json: serde_json::Value = serde_json::from_str(
        env.ok(&["stats", "--no-stream", "--format", "json", "lim"])
            .trim(),
    )
    .unwrap();
    assert!(
        json["MemUsage"].as_str().unwrap().ends_with("/ 48MiB"),
        "{json}"
    );
    assert_eq!(json["PIDs"], "1");
    let limits = env.ok(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=512:1024",
        "base",
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn",
    ]);
    assert_eq!(limits, "512\n1024\n");
    let lim = inspect(&env, &["lim"]);
    assert_eq!(lim["HostConfig"]["Memory"], 48 << 20);
    assert_eq!(lim["HostConfig"]["NanoCpus"], 500_000_000);
    assert_eq!(lim["HostConfig"]["PidsLimit"], 30);

    // Limits the kernel or docker's rules refuse: an error, and no container.
    let before = env.ok(&["ps", "-a", "-q"]);
    let out = env.run(&["run", "--cpus", "0.001", "base", "true"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the kernel refused --cpus"), "{err}");
    let out = env.run(&["create", "--memory", "1m", "base", "true"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("Minimum memory limit allowed is 6MB"));
    assert_eq!(env.ok(&["ps", "-a", "-q"]), before);
    let ids: Vec<String> = env
        .ok(&["ps", "-a", "-q", "--no-trunc"])
        .lines()
        .map(String::from)
        .collect();
    env.ok(&["rm", "-f", "lim", "hog", "fits"]);
    for id in ids {
        assert!(no_cgroup_of(&id), "cgroup of {id} left");
    }
}

#[test]
fn build_limits_apply_to_run_steps() {
    let env = Env::new();
    env.import_base("base");
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM base\nRUN dd if=/dev/zero of=/dev/null bs=64M count=1\n",
    )
    .unwrap();
    let err = env.fails(
        &[
            "build",
            "--memory",
            "32m",
            "-t",
            "hog",
            ctx.to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains("exit code: 137"), "{err}");
    // Without the limit the same step passes.
    env.ok(&["build", "-q", "-t", "hog", ctx.to_str().unwrap()]);
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM base\nRUN ulimit -n > /nofile\n",
    )
    .unwrap();
    env.ok(&[
        "build",
        "-q",
        "--ulimit",
        "nofile=321:400",
        "--cpus",
        "0.5",
        "-t",
        "lim",
        ctx.to_str().unwrap(),
    ]);
    env.ok(&["create", "--name", "show", "lim", "cat", "/nofile"]);
    let out = env.ok(&["start", "-a", "show"]);
    assert_eq!(out, "321\n");
}
