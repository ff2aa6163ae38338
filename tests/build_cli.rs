//! `strata build` through the real binary, on the testdata busybox base image.

mod common;

use common::{docker_available, tool, Env};
use serde_json::Value;
use std::fs;
use std::path::Path;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, body) in files {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, body).unwrap();
    }
}

fn inspect(env: &Env, name: &str) -> Value {
    serde_json::from_str::<Value>(&env.ok(&["inspect", name])).unwrap()[0].clone()
}

fn build(env: &Env, ctx: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["build"];
    args.extend_from_slice(extra);
    args.push(ctx.to_str().unwrap());
    env.run(&args)
}

fn build_ok(env: &Env, ctx: &Path, extra: &[&str]) -> String {
    let out = build(env, ctx, extra);
    assert!(
        out.status.success(),
        "build failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const APP: &str = r#"FROM base
ARG GREETING=hello
ENV APP_HOME=/srv/app
WORKDIR $APP_HOME
COPY app.txt conf/ ./
RUN echo "$GREETING from RUN" > run.txt && rm /etc/group
USER app
EXPOSE 8080
LABEL org.example=demo
CMD ["cat", "app.txt", "run.txt"]
"#;

#[test]
fn builds_config_layers_and_history_like_buildkit() {
    let env = Env::new();
    env.import_base("base");
    let ctx = env.path("ctx");
    write(
        &ctx,
        &[
            ("Dockerfile", APP),
            ("app.txt", "app\n"),
            ("conf/a.conf", "a=1\n"),
        ],
    );
    let log = build_ok(&env, &ctx, &["-t", "app:1", "--label", "extra=yes"]);
    assert!(log.contains("RUN echo"), "{log}");
    let info = inspect(&env, "app:1");
    let config = &info["Config"];
    assert_eq!(
        config["Cmd"],
        serde_json::json!(["cat", "app.txt", "run.txt"])
    );
    assert_eq!(config["WorkingDir"], "/srv/app");
    assert_eq!(config["User"], "app");
    assert_eq!(config["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert_eq!(
        config["Labels"],
        serde_json::json!({"org.example": "demo", "extra": "yes"})
    );
    let envs: Vec<String> = serde_json::from_value(config["Env"].clone()).unwrap();
    assert!(envs.iter().any(|e| e.starts_with("PATH=")), "{envs:?}");
    assert!(envs.contains(&"APP_HOME=/srv/app".to_string()), "{envs:?}");
    // base layer + WORKDIR + COPY + RUN
    assert_eq!(info["RootFS"]["Layers"].as_array().unwrap().len(), 4);
    let history = env.ok(&["history", "--no-trunc", "app:1"]);
    assert!(
        history.contains("RUN |1 GREETING=hello /bin/sh -c echo"),
        "{history}"
    );
    assert!(
        history.contains("COPY app.txt conf/ ./ # buildkit"),
        "{history}"
    );

    // A no-op rebuild answers every step from the cache and gives the same image.
    let id = info["Id"].clone();
    let again = build_ok(&env, &ctx, &["-t", "app:1", "--label", "extra=yes"]);
    assert!(!again.contains(" DONE "), "{again}");
    assert!(again.contains("CACHED"), "{again}");
    let quiet = env.ok(&[
        "build",
        "-q",
        "-t",
        "app:1",
        "--label",
        "extra=yes",
        ctx.to_str().unwrap(),
    ]);
    assert_eq!(quiet.trim(), id.as_str().unwrap());

    // Touching a file keeps the cache; changing it reruns COPY and what follows only.
    let app = ctx.join("app.txt");
    fs::write(&app, "app\n").unwrap();
    assert!(!build_ok(&env, &ctx, &["-t", "app:1"]).contains(" DONE "));
    fs::write(&app, "app v2\n").unwrap();
    let changed = build_ok(&env, &ctx, &["-t", "app:2"]);
    let done: Vec<&str> = changed.lines().filter(|l| l.contains(" DONE ")).collect();
    assert_eq!(done.len(), 2, "COPY and RUN rerun:\n{changed}");
    assert!(env.ok(&["system", "check"]).contains("store is clean"));
}

#[test]
fn run_is_isolated_with_docker_defaults() {
    let env = Env::new();
    env.import_base("base");
    let ctx = env.path("ctx");
    let sentinel = env.path("host-only-sentinel");
    fs::write(&sentinel, "secret").unwrap();
    let dockerfile = format!(
        "FROM base\nRUN ps -o pid,comm > /ps.txt && grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status > /status.txt && (test -e {} && echo visible || echo hidden) > /sentinel.txt && ls /sys/class/net > /net.txt\n",
        sentinel.display()
    );
    write(&ctx, &[("Dockerfile", &dockerfile)]);
    build_ok(&env, &ctx, &["-t", "iso"]);
    let out = env.path("out");
    fs::create_dir(&out).unwrap();
    let archive = env.path("iso.tar");
    env.ok(&[
        "save",
        "--format",
        "oci",
        "-o",
        archive.to_str().unwrap(),
        "iso",
    ]);
    // Read the RUN's files back from its layer (the last one).
    let image = inspect(&env, "iso");
    let layers = image["RootFS"]["Layers"].as_array().unwrap().len();
    assert_eq!(layers, 2);
    let manifest: Value = serde_json::from_str(&env.ok(&["inspect", "iso"])).unwrap();
    let digest = manifest[0]["Descriptor"]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let m: Value =
        serde_json::from_slice(&fs::read(env.root().join("blobs/sha256").join(digest)).unwrap())
            .unwrap();
    let layer = m["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    tool(
        "tar",
        &[
            "-xzf",
            env.root()
                .join("blobs/sha256")
                .join(layer)
                .to_str()
                .unwrap(),
            "-C",
            out.to_str().unwrap(),
        ],
    );
    let ps = fs::read_to_string(out.join("ps.txt")).unwrap();
    let pids: Vec<&str> = ps.lines().skip(1).collect();
    assert!(pids.len() <= 2, "only the step's processes: {ps}");
    let status = fs::read_to_string(out.join("status.txt")).unwrap();
    assert!(status.contains("CapEff:\t00000000a80425fb"), "{status}");
    assert!(status.contains("CapBnd:\t00000000a80425fb"), "{status}");
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    assert_eq!(
        fs::read_to_string(out.join("sentinel.txt")).unwrap().trim(),
        "hidden"
    );
    assert_eq!(
        fs::read_to_string(out.join("net.txt")).unwrap().trim(),
        "lo"
    );
    // resolv.conf and hosts are bind-mounted, never committed.
    assert!(!out.join("etc/hosts").exists() && !out.join("etc/resolv.conf").exists());
}

#[test]
fn multi_stage_target_and_copy_from() {
    let env = Env::new();
    env.import_base("base");
    let ctx = env.path("ctx");
    write(
        &ctx,
        &[(
            "Dockerfile",
            "FROM base AS build\nRUN mkdir /out && echo built > /out/artifact\n\
             FROM base AS unused\nRUN exit 3\n\
             FROM scratch AS final\nCOPY --from=build /out/artifact /artifact\nCMD [\"/artifact\"]\n",
        )],
    );
    let log = build_ok(&env, &ctx, &["-t", "multi"]);
    assert!(
        !log.contains("exit 3"),
        "a stage the target does not reach never runs:\n{log}"
    );
    let info = inspect(&env, "multi");
    assert_eq!(info["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    let err =
        String::from_utf8_lossy(&build(&env, &ctx, &["--target", "unused", "-t", "u"]).stderr)
            .into_owned();
    assert!(err.contains("Dockerfile:4"), "{err}");
    assert!(err.contains("exit code: 3"), "{err}");
    let err =
        String::from_utf8_lossy(&build(&env, &ctx, &["--target", "nope"]).stderr).into_owned();
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn failures_name_the_dockerfile_line_and_change_nothing() {
    let env = Env::new();
    env.import_base("base");
    let ctx = env.path("ctx");
    write(
        &ctx,
        &[(
            "Dockerfile",
            "FROM base\nRUN true\nRUN echo partial > /p && false\n",
        )],
    );
    let before = env.snapshot().0;
    let out = build(&env, &ctx, &["-t", "broken"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Dockerfile:3"), "{err}");
    assert!(err.contains("RUN echo partial > /p && false"), "{err}");
    assert!(
        err.contains("did not complete successfully: exit code: 1"),
        "{err}"
    );
    assert_eq!(env.snapshot().0, before, "no image recorded");

    write(
        &ctx,
        &[("Dockerfile", "FROM base\nCOPY ../../etc/passwd /x\n")],
    );
    let err = String::from_utf8_lossy(&build(&env, &ctx, &["-t", "escape"]).stderr).into_owned();
    assert!(
        err.contains("Dockerfile:2") && err.contains("not found"),
        "{err}"
    );

    write(&ctx, &[("Dockerfile", "FROM base\nRUNN true\n")]);
    let err = String::from_utf8_lossy(&build(&env, &ctx, &[]).stderr).into_owned();
    assert!(
        err.contains("Dockerfile:2") && err.contains("unknown instruction"),
        "{err}"
    );
    write(&ctx, &[("Dockerfile", "FROM nosuchimage:1\nRUN true\n")]);
    let err = String::from_utf8_lossy(&build(&env, &ctx, &[]).stderr).into_owned();
    assert!(err.contains("nosuchimage"), "{err}");
    assert_eq!(env.snapshot().0, before);
    env.ok(&["system", "check"]);
}

#[test]
fn dockerignore_and_reproducible_builds() {
    let first = Env::new();
    let second = Env::new();
    let ctx = first.path("ctx");
    write(
        &ctx,
        &[
            ("Dockerfile", "FROM base\nCOPY . /src/\nRUN ls /src > /listing && head -c 3000000 /dev/zero > /zeros\n"),
            (".dockerignore", "secret.txt\n*.log\n!keep.log\n"),
            ("secret.txt", "no"),
            ("a.log", "no"),
            ("keep.log", "yes"),
            ("main.c", "int main(){}"),
        ],
    );
    let tar = common::base_rootfs().to_str().unwrap().to_string();
    let mut ids = Vec::new();
    for (env, threads) in [(&first, "1"), (&second, "2")] {
        // Same base in both stores: the import is reproducible with SOURCE_DATE_EPOCH too.
        let status = env
            .cmd(&["import", &tar, "base"])
            .env("SOURCE_DATE_EPOCH", "1600000000")
            .status()
            .unwrap();
        assert!(status.success());
        let id = env.ok(&[
            "build",
            "-q",
            "--compression-threads",
            threads,
            "--build-arg",
            "SOURCE_DATE_EPOCH=1700000000",
            "-t",
            "r",
            ctx.to_str().unwrap(),
        ]);
        ids.push(id.trim().to_string());
        // A file's mtime must not matter either.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        fs::write(ctx.join("main.c"), "int main(){}").unwrap();
    }
    assert_eq!(
        ids[0], ids[1],
        "same image ID in two stores, at different times, 1 vs 2 threads"
    );
    let info = inspect(&first, "r");
    assert_eq!(info["Created"], "2023-11-14T22:13:20Z");
    let out = first.path("out");
    first.ok(&[
        "build",
        "-q",
        "-o",
        &format!("type=local,dest={}", out.display()),
        ctx.to_str().unwrap(),
    ]);
    let listing = fs::read_to_string(out.join("listing")).unwrap();
    assert_eq!(
        listing, "Dockerfile\nkeep.log\nmain.c\n",
        ".dockerignore applied"
    );
}

#[test]
fn docker_runs_the_built_image() {
    if !docker_available() {
        return;
    }
    let env = Env::new();
    env.import_base("base");
    let ctx = env.path("ctx");
    write(
        &ctx,
        &[
            ("Dockerfile", APP),
            ("app.txt", "app\n"),
            ("conf/a.conf", "a=1\n"),
        ],
    );
    let name = format!("strata-build-{}:t", std::process::id());
    build_ok(&env, &ctx, &["-t", &name]);
    let archive = env.path("img.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), &name]);
    tool("docker", &["load", "-i", archive.to_str().unwrap()]);
    let out = tool("docker", &["run", "--rm", "--network", "none", &name]);
    assert_eq!(out, "app\nhello from RUN\n");
    let out = tool(
        "docker",
        &[
            "run",
            "--rm",
            "--network",
            "none",
            &name,
            "sh",
            "-c",
            "id -u; pwd; ls /srv/app; test -e /etc/group || echo gone",
        ],
    );
    assert_eq!(out, "1000\n/srv/app\na.conf\napp.txt\nrun.txt\ngone\n");
    tool("docker", &["rmi", &name]);
}

#[test]
fn outputs_local_tar_and_archives() {
    let env = Env::new();
    env.import_base("base");
    let ctx = env.path("ctx");
    write(
        &ctx,
        &[(
            "Dockerfile",
            "FROM base\nRUN echo out > /made && rm /etc/group\n",
        )],
    );
    let dir = env.path("rootfs");
    let tar = env.path("rootfs.tar");
    let oci = env.path("oci.tar");
    let docker = env.path("docker.tar");
    let spec = |kind: &str, p: &Path| format!("type={kind},dest={}", p.display());
    build_ok(
        &env,
        &ctx,
        &[
            "-o",
            &spec("local", &dir),
            "-o",
            &spec("tar", &tar),
            "-o",
            &spec("oci", &oci),
            "-o",
            &spec("docker", &docker),
        ],
    );
    assert_eq!(fs::read_to_string(dir.join("made")).unwrap(), "out\n");
    assert!(dir.join("bin/busybox").is_file() && !dir.join("etc/group").exists());
    let listing = tool("tar", &["-tf", tar.to_str().unwrap()]);
    assert!(
        listing.lines().any(|l| l == "made") && !listing.contains("etc/group"),
        "{listing}"
    );
    let other = Env::new();
    assert!(other
        .ok(&["load", "-i", docker.to_str().unwrap()])
        .contains("Loaded image ID: sha256:"));
    assert!(other
        .ok(&["load", "-i", oci.to_str().unwrap()])
        .contains("Loaded image"));
    let err = String::from_utf8_lossy(&build(&env, &ctx, &["-o", "type=bogus,dest=x"]).stderr)
        .into_owned();
    assert!(
        err.contains("type must be oci, docker, tar or local"),
        "{err}"
    );
}

#[test]
fn explain_cache_and_no_cache_filter() {
    let env = Env::new();
    env.import_base("base");
    let ctx = env.path("ctx");
    write(
        &ctx,
        &[
            (
                "Dockerfile",
                "FROM base AS one\nCOPY a.txt /a.txt\nRUN echo one > /x\n",
            ),
            ("a.txt", "1"),
        ],
    );
    build_ok(&env, &ctx, &[]);
    fs::write(ctx.join("a.txt"), "2").unwrap();
    let log = build_ok(&env, &ctx, &["--explain-cache"]);
    assert!(log.contains("cache miss: sources changed"), "{log}");
    write(
        &ctx,
        &[(
            "Dockerfile",
            "FROM base AS one\nCOPY a.txt /a.txt\nRUN echo two > /x\n",
        )],
    );
    let log = build_ok(&env, &ctx, &["--explain-cache"]);
    assert!(
        log.contains("instruction changed from `RUN echo one > /x` to `RUN echo two > /x`"),
        "{log}"
    );
    let log = build_ok(&env, &ctx, &["--no-cache-filter", "one"]);
    assert!(!log.contains("CACHED"), "{log}");
    let log = build_ok(&env, &ctx, &[]);
    assert!(!log.contains(" DONE "), "{log}");
}

#[test]
fn ctrl_c_cancels_cleanly() {
    let env = Env::new();
    env.import_base("base");
    let ctx = env.path("ctx");
    write(
        &ctx,
        &[("Dockerfile", "FROM base\nRUN echo started && sleep 37.5\n")],
    );
    let before = env.snapshot();
    let child = env
        .cmd(&["build", "-t", "cancelled", ctx.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    tool("kill", &["-INT", &child.id().to_string()]);
    let start = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        start.elapsed().as_secs() < 20,
        "the running step is killed, not waited for"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the build was cancelled"), "{err}");
    let procs = tool("ps", &["-eo", "args"]);
    assert!(
        !procs.contains("sleep 37.5"),
        "the step's process is gone:\n{procs}"
    );
    let mounts = fs::read_to_string("/proc/mounts").unwrap();
    assert!(
        !mounts.contains(env.root().to_str().unwrap()),
        "no mount left:\n{mounts}"
    );
    let tmp = env.root().join("strata/v1/tmp");
    let left: Vec<_> = fs::read_dir(&tmp)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "temp dirs removed: {left:?}");
    assert_eq!(env.snapshot().0, before.0, "nothing tagged");
    let report = env.ok(&["system", "check"]);
    assert!(report.contains("store is"), "{report}");
}

#[test]
fn uncompressed_layers_have_the_diff_ids_of_compressed_ones() {
    let env = Env::new();
    env.import_base("base");
    let ctx = env.path("ctx");
    // A RUN layer of several MiB (streamed through the blob writer's threads) and a COPY one.
    write(
        &ctx,
        &[
            (
                "Dockerfile",
                "FROM base\nCOPY app.txt /app/\n\
                 RUN head -c 5000000 /dev/urandom > /big && echo done > /small\n",
            ),
            ("app.txt", "app\n"),
        ],
    );
    let mut layers = Vec::new();
    for compression in ["none", "gzip", "zstd"] {
        let tag = format!("c:{compression}");
        build_ok(
            &env,
            &ctx,
            &[
                "--compression",
                compression,
                "--no-cache",
                // New directories get the build's time otherwise.
                "--build-arg",
                "SOURCE_DATE_EPOCH=1700000000",
                "-t",
                &tag,
            ],
        );
        layers.push(inspect(&env, &tag)["RootFS"]["Layers"].clone());
    }
    // The RUN's random bytes differ between builds; the COPY layer and the base do not.
    for l in &layers {
        assert_eq!(l.as_array().unwrap().len(), 3, "{l}");
        assert_eq!(l[0], layers[0][0]);
        assert_eq!(l[1], layers[0][1], "COPY layer's diffID: {layers:?}");
    }
    // The store verifies every blob against its digest, and config against manifest.
    assert!(env.ok(&["system", "check"]).contains("store is clean"));
    let out = env.path("out.tar");
    env.ok(&["save", "-o", out.to_str().unwrap(), "c:none"]);
    assert!(env
        .ok(&["load", "-i", out.to_str().unwrap()])
        .contains("c:none"));
}
