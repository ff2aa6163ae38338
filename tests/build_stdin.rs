//! `strata build -` (a context tar, or only a Dockerfile, on stdin) and docker's `-f` rules,
//! through the real binary.

mod common;

use common::{docker_available, tool, Env};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, body) in files {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, body).unwrap();
    }
}

/// Runs `strata ARGS` with `input` on stdin (from `cwd` when given).
fn with_stdin(env: &Env, args: &[&str], input: &[u8], cwd: Option<&Path>) -> Output {
    let mut cmd = env.cmd(args);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        // The build may stop reading early (an error): a broken pipe is fine.
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn err(out: Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A tar of `dir`'s contents, through `compress` (e.g. `gzip -c`) unless empty.
fn tar_of(dir: &Path, compress: &[&str]) -> Vec<u8> {
    let tar = Command::new("tar")
        .args(["-C", dir.to_str().unwrap(), "-cf", "-", "."])
        .output()
        .unwrap();
    assert!(tar.status.success());
    if compress.is_empty() {
        return tar.stdout;
    }
    let mut child = Command::new(compress[0])
        .args(&compress[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let bytes = tar.stdout;
    let feeder = std::thread::spawn(move || stdin.write_all(&bytes).unwrap());
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(out.status.success());
    out.stdout
}

fn read_rootfs_file(env: &Env, image: &str, file: &str) -> String {
    let dir = env.path(&format!("rootfs-{image}"));
    let spec = format!("type=local,dest={}", dir.display());
    // A build of `FROM image` exported locally is the simplest way to read the image's files.
    let ctx = env.path(&format!("reader-{image}"));
    write(&ctx, &[("Dockerfile", &format!("FROM {image}\n"))]);
    env.ok(&["build", "-q", "-o", &spec, ctx.to_str().unwrap()]);
    fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn context_tar_on_stdin_in_every_compression() {
    let env = Env::new();
    env.import_base("base");
    let ctx = env.path("ctx");
    write(
        &ctx,
        &[
            (
                "Dockerfile",
                "FROM base\nCOPY . /ctx/\nRUN ls -a /ctx > /listing\nCMD [\"cat\", \"/ctx/app.txt\"]\n",
            ),
            ("app.txt", "from the tar\n"),
            ("sub/inner.txt", "inner\n"),
            ("skip.log", "ignored\n"),
            (".dockerignore", "*.log\n"),
            ("other/Dockerfile.dev", "FROM base\nCOPY sub/inner.txt /dev.txt\n"),
        ],
    );
    let mut first_id = None;
    for compress in [
        &[][..],
        &["gzip", "-c"][..],
        &["bzip2", "-c"][..],
        &["xz", "-c"][..],
        &["zstd", "-c", "-q"][..],
    ] {
        let tag = format!("stdin:{}", compress.first().unwrap_or(&"tar"));
        let log = ok(with_stdin(
            &env,
            &["--progress", "plain", "build", "-t", &tag, "-"],
            &tar_of(&ctx, compress),
            None,
        ));
        let id = env
            .ok(&["images", "-q", "--no-trunc", &tag])
            .trim()
            .to_string();
        // The same content, however it was packed, is the same build: all cached after the first.
        match &first_id {
            None => first_id = Some(id),
            Some(first) => {
                assert_eq!(&id, first, "{compress:?}");
                assert!(log.contains("CACHED") && !log.contains(" DONE "), "{log}");
            }
        }
    }
    assert_eq!(
        read_rootfs_file(&env, "stdin:tar", "listing"),
        ".\n..\n.dockerignore\nDockerfile\napp.txt\nother\nsub\n"
    );
    // -f names a file inside the archive.
    ok(with_stdin(
        &env,
        &[
            "build",
            "-q",
            "-t",
            "dev",
            "-f",
            "other/Dockerfile.dev",
            "-",
        ],
        &tar_of(&ctx, &["gzip", "-c"]),
        None,
    ));
    assert_eq!(read_rootfs_file(&env, "dev", "dev.txt"), "inner\n");
    // Nothing of the unpacked contexts stays behind: no stat cache for them, no temp dirs.
    let stats = env.root().join("strata/v1/context-stats");
    let kept = fs::read_dir(&stats).map(|d| d.count()).unwrap_or(0);
    assert_eq!(kept, 0, "no stat cache kept for a temporary context");
    assert!(env.ok(&["system", "check"]).contains("store is clean"));

    if docker_available() {
        let name = env.load_into_docker("stdin:xz", "strata-stdin");
        let out = tool("docker", &["run", "--rm", "--network", "none", &name]);
        tool("docker", &["rmi", &name]);
        assert_eq!(out, "from the tar\n");
    }
}

#[test]
fn dockerfile_on_stdin_has_no_context() {
    let env = Env::new();
    env.import_base("base");
    ok(with_stdin(
        &env,
        &["build", "-q", "-t", "plain", "-"],
        b"FROM base\nRUN echo only-a-dockerfile > /made\n",
        None,
    ));
    assert_eq!(
        read_rootfs_file(&env, "plain", "made"),
        "only-a-dockerfile\n"
    );
    let e = err(with_stdin(
        &env,
        &["build", "-"],
        b"FROM base\nCOPY app.txt /\n",
        None,
    ));
    assert!(e.contains("app.txt") && e.contains("not found"), "{e}");
    assert!(e.contains("Dockerfile:2"), "{e}");
    let e = err(with_stdin(
        &env,
        &["build", "-f", "-", "-"],
        b"FROM base\n",
        None,
    ));
    assert!(
        e.contains("can't use stdin for both build context and dockerfile"),
        "{e}"
    );
}

#[test]
fn dockerfile_flag_follows_docker() {
    let env = Env::new();
    env.import_base("base");
    let ctx = env.path("ctx");
    write(
        &ctx,
        &[
            ("app.txt", "app\n"),
            ("secret.txt", "no\n"),
            (".dockerignore", "secret.txt\n"),
        ],
    );
    // `-f -` with a directory context: the Dockerfile from stdin, the files from the directory.
    ok(with_stdin(
        &env,
        &["build", "-q", "-t", "a", "-f", "-", ctx.to_str().unwrap()],
        b"FROM base\nCOPY . /ctx/\n",
        None,
    ));
    assert_eq!(read_rootfs_file(&env, "a", "ctx/app.txt"), "app\n");
    assert!(
        !env.path("rootfs-a/ctx/secret.txt").exists(),
        ".dockerignore applies"
    );
    // `-f FILE` is relative to the current directory, not to the context.
    let elsewhere = env.path("elsewhere");
    write(
        &elsewhere,
        &[("build/App.df", "FROM base\nCOPY app.txt /from-cwd.txt\n")],
    );
    ok(with_stdin(
        &env,
        &[
            "build",
            "-q",
            "-t",
            "b",
            "-f",
            "build/App.df",
            ctx.to_str().unwrap(),
        ],
        b"",
        Some(&elsewhere),
    ));
    assert_eq!(read_rootfs_file(&env, "b", "from-cwd.txt"), "app\n");
    // Without -f: CONTEXT/Dockerfile, else CONTEXT/dockerfile.
    write(
        &ctx,
        &[("dockerfile", "FROM base\nCOPY app.txt /lower.txt\n")],
    );
    env.ok(&["build", "-q", "-t", "c", ctx.to_str().unwrap()]);
    assert_eq!(read_rootfs_file(&env, "c", "lower.txt"), "app\n");
    let e = env.fails(&["build", "-f", "nope.df", ctx.to_str().unwrap()], 1);
    assert!(
        e.contains("Cannot locate specified Dockerfile: nope.df"),
        "{e}"
    );
}

#[test]
fn add_unpacks_local_archives_in_every_compression() {
    let env = Env::new();
    env.import_base("base");
    let payload = env.path("payload");
    write(&payload, &[("inside.txt", "unpacked\n")]);
    let ctx = env.path("ctx");
    fs::create_dir_all(&ctx).unwrap();
    let mut dockerfile = String::from("FROM base\n");
    for (ext, compress) in [
        ("tar", &[][..]),
        ("tar.gz", &["gzip", "-c"][..]),
        ("tar.bz2", &["bzip2", "-c"][..]),
        ("tar.xz", &["xz", "-c"][..]),
        ("tar.zst", &["zstd", "-c", "-q"][..]),
    ] {
        // Named without a telling extension: ADD recognises archives by content.
        let name = format!("blob-{}", ext.replace('.', "-"));
        fs::write(ctx.join(&name), tar_of(&payload, compress)).unwrap();
        dockerfile.push_str(&format!("ADD {name} /{ext}/\n"));
    }
    write(&ctx, &[("Dockerfile", &dockerfile)]);
    env.ok(&["build", "-q", "-t", "added", ctx.to_str().unwrap()]);
    for ext in ["tar", "tar.gz", "tar.bz2", "tar.xz", "tar.zst"] {
        assert_eq!(
            read_rootfs_file(&env, "added", &format!("{ext}/inside.txt")),
            "unpacked\n",
            "{ext}"
        );
    }
}
