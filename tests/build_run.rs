//! `strata build` RUN features through the real binary: heredocs (scripts with a shebang,
//! shell input, several documents), `--mount` of every type, the build-wide `--network`.

mod common;

use common::{docker_available, tool, Env};
use std::fs;
use std::path::{Path, PathBuf};

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, body) in files {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, body).unwrap();
    }
}

/// Builds `ctx` with `extra` args (plain progress); returns stderr, panics on failure.
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

fn build(env: &Env, ctx: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["--progress", "plain", "build"];
    args.extend_from_slice(extra);
    args.push(ctx.to_str().unwrap());
    env.run(&args)
}

/// Builds and exports the root file system to a fresh directory.
fn build_local(env: &Env, ctx: &Path, extra: &[&str]) -> (PathBuf, String) {
    let out = env.path(&format!("out-{}", rand_suffix()));
    let spec = format!("type=local,dest={}", out.display());
    let mut args = vec!["-o", spec.as_str()];
    args.extend_from_slice(extra);
    let log = build_ok(env, ctx, &args);
    (out, log)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn read(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Plain progress: `(name line, CACHED?)` for each step whose name contains `needle`.
fn cached(log: &str, needle: &str) -> bool {
    let id = log
        .lines()
        .find(|l| l.starts_with('#') && l.contains(needle))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no step {needle:?} in:\n{log}"))
        .to_string();
    log.lines().any(|l| l == format!("{id} CACHED"))
}

#[test]
fn heredocs_like_buildkit() {
    let env = Env::new();
    env.import_base("base");
    let ctx = env.path("ctx");
    let dockerfile = r#"FROM base
ENV WHO=world
RUN <<EOF
#!/bin/sh
echo "script $0 for $WHO" > /shebang.txt
ls -l /dev/pipes/ | grep -c EOF >> /shebang.txt
EOF
RUN <<EOT
#!/usr/bin/awk -f
BEGIN { print "awk ran" > "/awk.txt" }
EOT
RUN <<EOF
echo "plain $WHO" > /plain.txt
echo second line >> /plain.txt
EOF
RUN sh <<EOF
echo "stdin \$0" > /stdin.txt
EOF
RUN <<FILE1 cat > /file1 && <<FILE2 cat > /file2
I am
first
FILE1
I am
second
FILE2
RUN <<-EOF
	echo "chomped tabs" > /chomp.txt
	EOF
"#;
    write(&ctx, &[("Dockerfile", dockerfile)]);
    let (out, log) = build_local(&env, &ctx, &["-t", "heredoc"]);
    assert_eq!(
        read(&out, "shebang.txt"),
        "script /dev/pipes/EOF for world\n1\n"
    );
    assert_eq!(read(&out, "awk.txt"), "awk ran\n");
    assert_eq!(read(&out, "plain.txt"), "plain world\nsecond line\n");
    assert_eq!(read(&out, "stdin.txt"), "stdin sh\n");
    assert_eq!(read(&out, "file1"), "I am\nfirst\n");
    assert_eq!(read(&out, "file2"), "I am\nsecond\n");
    assert_eq!(read(&out, "chomp.txt"), "chomped tabs\n");
    // The script's mount point is not part of the layer.
    assert!(!out.join("dev/pipes").exists());
    assert!(!log.contains("CACHED"), "{log}");
    // Progress names summarise a heredoc that is the whole command, as BuildKit does.
    assert!(log.contains("] RUN <<EOF (#!/bin/sh...)\n"), "{log}");
    assert!(
        log.contains("] RUN <<EOF (echo \"plain $WHO\" > /plain.txt...)\n"),
        "{log}"
    );
    assert!(
        log.contains("] RUN <<FILE1 cat > /file1 && <<FILE2 cat > /file2\n"),
        "{log}"
    );
    // A changed script body misses the cache; the others hit.
    let changed = dockerfile.replace("awk ran", "awk ran again");
    write(&ctx, &[("Dockerfile", &changed)]);
    let (out, log) = build_local(&env, &ctx, &[]);
    assert_eq!(read(&out, "awk.txt"), "awk ran again\n");
    assert!(cached(&log, "[stage-0 2/"), "{log}");
    assert!(!cached(&log, "[stage-0 3/"), "{log}");
    let history = env.ok(&["history", "--no-trunc", "heredoc"]);
    assert!(
        history.contains("RUN /bin/sh -c /dev/pipes/EOF # buildkit"),
        "{history}"
    );
}

const MOUNTS: &str = r#"FROM base AS tools
ARG TOOL=v1
RUN mkdir -p /opt/tool && echo "tool $TOOL" > /opt/tool/version

FROM base
RUN --mount=type=bind,from=other,source=etc/passwd,target=/mnt/passwd head -1 /mnt/passwd > /from-image.txt
RUN --mount=type=bind,source=dir,target=/mnt/ctx,rw echo scribble > /mnt/ctx/new.txt && cat /mnt/ctx/file.txt > /from-ctx.txt && ls /mnt/ctx > /ctx-list.txt
RUN --mount=target=ro (touch ro/x 2>/dev/null && echo writable || echo readonly) > /ro.txt
RUN --mount=type=cache,target=/cache,id=c1,sharing=locked,uid=1000,mode=0700 echo run >> /cache/log && wc -l < /cache/log | tr -d ' ' > /cache-count.txt && stat -c '%u %a' /cache > /cache-owner.txt
RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/f && grep -c ' /scratch tmpfs ' /proc/mounts > /tmpfs.txt
RUN --mount=type=secret,id=tok,env=TOKEN --mount=type=secret,id=tok echo "$TOKEN" > /secret-env.txt && cat /run/secrets/tok > /secret-file.txt && stat -c '%u %a' /run/secrets/tok > /secret-mode.txt
RUN --mount=type=secret,id=absent,target=/run/absent (test -e /run/absent && echo present || echo absent) > /optional.txt
RUN --mount=type=bind,from=tools,source=/opt/tool,target=/mnt/tool cat /mnt/tool/version > /from-stage.txt
"#;

#[test]
fn run_mounts_of_every_type() {
    let env = Env::new();
    env.import_base("base");
    env.import_base("other");
    let ctx = env.path("ctx");
    write(
        &ctx,
        &[
            ("Dockerfile", MOUNTS),
            ("dir/file.txt", "from the context\n"),
            ("dir/ignored.log", "ignored\n"),
            ("ro/keep", "k\n"),
            (".dockerignore", "*/*.log\n"),
        ],
    );
    let secret = env.path("token");
    fs::write(&secret, "s3cr3t").unwrap();
    let secret_arg = format!("id=tok,src={}", secret.display());
    let (out, log) = build_local(&env, &ctx, &["--secret", &secret_arg, "-t", "mounts"]);
    assert_eq!(read(&out, "from-stage.txt"), "tool v1\n");
    assert_eq!(
        read(&out, "from-image.txt"),
        "root:x:0:0:root:/root:/bin/sh\n"
    );
    assert_eq!(read(&out, "from-ctx.txt"), "from the context\n");
    assert_eq!(
        read(&out, "ctx-list.txt"),
        "file.txt\nnew.txt\n",
        ".dockerignore applies"
    );
    assert!(!ctx.join("dir/new.txt").exists(), "rw writes are discarded");
    assert_eq!(read(&out, "ro.txt"), "readonly\n");
    assert_eq!(read(&out, "cache-count.txt"), "1\n");
    assert_eq!(read(&out, "cache-owner.txt"), "1000 700\n");
    assert_eq!(read(&out, "tmpfs.txt"), "1\n");
    assert_eq!(read(&out, "secret-env.txt"), "s3cr3t\n");
    assert_eq!(read(&out, "secret-file.txt"), "s3cr3t");
    assert_eq!(read(&out, "secret-mode.txt"), "0 400\n");
    assert_eq!(read(&out, "optional.txt"), "absent\n");
    for gone in ["mnt", "cache/log", "scratch", "run/secrets", "ro/x"] {
        assert!(!out.join(gone).exists(), "{gone} is not in the image");
    }
    assert!(!log.contains("s3cr3t"), "{log}");

    // Unchanged inputs: everything cached. A new stage content reruns the step that mounts
    // it; a changed context file reruns the context mount (and the steps after it).
    let log = build_ok(&env, &ctx, &["--secret", &secret_arg]);
    assert!(cached(&log, "from=tools"), "{log}");
    assert!(cached(&log, "source=dir"), "{log}");
    let log = build_ok(
        &env,
        &ctx,
        &["--secret", &secret_arg, "--build-arg", "TOOL=v2"],
    );
    assert!(!cached(&log, "from=tools"), "{log}");
    assert!(cached(&log, "from=other"), "{log}");
    assert!(cached(&log, "type=cache"), "{log}");
    fs::write(ctx.join("dir/file.txt"), "changed\n").unwrap();
    let (out, log) = build_local(
        &env,
        &ctx,
        &["--secret", &secret_arg, "--build-arg", "TOOL=v2"],
    );
    assert!(cached(&log, "from=other"), "{log}");
    assert!(!cached(&log, "source=dir"), "{log}");
    assert_eq!(read(&out, "from-stage.txt"), "tool v2\n");
    assert_eq!(read(&out, "from-ctx.txt"), "changed\n");
    // The cache mount kept its content across builds.
    assert_eq!(read(&out, "cache-count.txt"), "2\n");
    // An ignored file is not part of what the mount reads.
    fs::write(ctx.join("dir/ignored.log"), "changed too\n").unwrap();
    let log = build_ok(
        &env,
        &ctx,
        &["--secret", &secret_arg, "--build-arg", "TOOL=v2"],
    );
    assert!(cached(&log, "source=dir"), "{log}");

    // From outside: docker sees the files the mounts produced, and no mount point.
    if docker_available() {
        let name = env.load_into_docker("mounts", "strata-mounts");
        let got = tool(
            "docker",
            &[
                "run",
                "--rm",
                "--network",
                "none",
                &name,
                "sh",
                "-c",
                "cat /from-stage.txt /from-ctx.txt /secret-mode.txt; ls /mnt 2>&1 | head -1",
            ],
        );
        tool("docker", &["rmi", &name]);
        assert!(
            got.starts_with("tool v1\nfrom the context\n0 400\n") && got.contains("No such file"),
            "{got}"
        );
    }
}

#[test]
fn refused_mounts_say_why() {
    let env = Env::new();
    env.import_base("base");
    let cases = [
        (
            "FROM base\nRUN --mount=type=ssh ls\n",
            "RUN --mount=type=ssh is not supported",
        ),
        (
            "FROM base\nRUN --mount=type=secret,id=tok,required ls\n",
            "secret tok is required but not given",
        ),
        (
            "FROM base AS a\nRUN mkdir /x\nFROM base\nRUN --mount=from=a,source=/nope,target=/m ls\n",
            "\"/nope\" not found",
        ),
        (
            // A link is followed inside the stage: the host's /etc/shadow is not the stage's.
            "FROM base AS a\nRUN ln -s /etc/shadow /x\nFROM base\nRUN --mount=from=a,source=/x,target=/m ls\n",
            "\"/x\" not found",
        ),
    ];
    for (i, (dockerfile, message)) in cases.iter().enumerate() {
        let ctx = env.path(&format!("ctx{i}"));
        write(&ctx, &[("Dockerfile", dockerfile)]);
        let out = build(&env, &ctx, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(message), "{dockerfile}: {err}");
        assert!(err.contains("Dockerfile:"), "names the line: {err}");
    }
}

fn interfaces(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn build_wide_network_flag() {
    let env = Env::new();
    env.import_base("base");
    let ctx = env.path("ctx");
    write(
        &ctx,
        &[(
            "Dockerfile",
            "FROM base\nRUN cat /proc/net/dev > /default.txt\nRUN --network=none cat /proc/net/dev > /none.txt\n",
        )],
    );
    let (out, _) = build_local(&env, &ctx, &[]);
    assert_eq!(interfaces(&read(&out, "default.txt")), ["lo"]);
    let (out, log) = build_local(&env, &ctx, &["--network", "none"]);
    assert_eq!(interfaces(&read(&out, "default.txt")), ["lo"]);
    assert!(
        !cached(&log, "RUN cat"),
        "another network is another key: {log}"
    );
    let (out, _) = build_local(&env, &ctx, &["--network=host"]);
    let host = interfaces(&fs::read_to_string("/proc/net/dev").unwrap());
    assert_eq!(interfaces(&read(&out, "default.txt")), host);
    // RUN --network wins over the flag.
    assert_eq!(interfaces(&read(&out, "none.txt")), ["lo"]);
    let err =
        String::from_utf8_lossy(&build(&env, &ctx, &["--network", "bridge"]).stderr).into_owned();
    assert!(err.contains("invalid value 'bridge'"), "{err}");
}

#[test]
fn locked_cache_mounts_are_used_one_step_at_a_time() {
    let env = Env::new();
    env.import_base("base");
    let ctx = env.path("ctx");
    let stage = |name: &str| {
        format!(
            "FROM base AS {name}\nRUN --mount=type=cache,id=shared-log,target=/c,sharing=locked \
             echo {name}1 >> /c/log && sleep 1 && echo {name}2 >> /c/log && cp /c/log /log\n"
        )
    };
    let dockerfile = format!(
        "{}{}FROM scratch\nCOPY --from=a /log /a.log\nCOPY --from=b /log /b.log\n",
        stage("a"),
        stage("b")
    );
    write(&ctx, &[("Dockerfile", &dockerfile)]);
    // The two stages run at the same time; the lock makes their steps take turns.
    let (out, _) = build_local(&env, &ctx, &[]);
    let (a, b) = (read(&out, "a.log"), read(&out, "b.log"));
    let (first, second) = if a.len() < b.len() { (a, b) } else { (b, a) };
    assert!(first == "a1\na2\n" || first == "b1\nb2\n", "{first:?}");
    let other = if first.starts_with('a') {
        "b1\nb2\n"
    } else {
        "a1\na2\n"
    };
    assert_eq!(second, format!("{first}{other}"));
}
