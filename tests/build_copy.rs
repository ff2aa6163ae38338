//! COPY `--exclude` and `--parents` through the real binary; the image is checked from
//! outside (`-o type=local`, and `strata save` -> `docker load` -> `docker run` when dockerd
//! answers).

mod common;

use common::{docker_available, tool, Env};
use std::fs;
use std::path::Path;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, body) in files {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, body).unwrap();
    }
}

fn build(env: &Env, ctx: &Path, extra: &[&str]) -> String {
    let mut args = vec!["--progress", "plain", "build"];
    args.extend_from_slice(extra);
    args.push(ctx.to_str().unwrap());
    let out = env.run(&args);
    assert!(
        out.status.success(),
        "build failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every path below `root`, relative, sorted ("dir/" for directories).
fn listing(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(root).unwrap().display().to_string();
            if e.file_type().unwrap().is_dir() {
                out.push(format!("{rel}/"));
                walk(root, &e.path(), out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

const DOCKERFILE: &str = "FROM base
COPY --exclude=*.log --exclude=sub/skip src/ /ex/
COPY --parents ./a/b/f.txt ./a/c/*.txt /par/
COPY --parents x/./y/z.txt /piv/
COPY --parents --exclude=**/*.md docs/./ /docs/
";

const EXPECTED: &[&str] = &[
    "docs/",
    "docs/guide/",
    "docs/guide/intro.txt",
    "ex/",
    "ex/keep.txt",
    "ex/sub/",
    "ex/sub/ok.txt",
    "par/",
    "par/a/",
    "par/a/b/",
    "par/a/b/f.txt",
    "par/a/c/",
    "par/a/c/h.txt",
    "piv/",
    "piv/y/",
    "piv/y/z.txt",
];

#[test]
fn copy_exclude_and_parents() {
    let env = Env::new();
    env.import_base("base");
    let ctx = env.path("ctx");
    write(
        &ctx,
        &[
            ("Dockerfile", DOCKERFILE),
            ("src/keep.txt", "keep\n"),
            ("src/drop.log", "drop\n"),
            ("src/sub/ok.txt", "ok\n"),
            ("src/sub/skip/x", "x\n"),
            ("a/b/f.txt", "f\n"),
            ("a/b/g.txt", "g\n"),
            ("a/c/h.txt", "h\n"),
            ("a/c/i.md", "i\n"),
            ("x/y/z.txt", "z\n"),
            ("x/y/other", "o\n"),
            ("docs/guide/intro.txt", "intro\n"),
            ("docs/guide/notes.md", "notes\n"),
            ("docs/README.md", "readme\n"),
        ],
    );
    // A parent directory created by --parents keeps the source's mode.
    fs::set_permissions(
        ctx.join("a/c"),
        std::os::unix::fs::PermissionsExt::from_mode(0o750),
    )
    .unwrap();
    let name = format!("strata-copy-{}:t", std::process::id());
    let out = env.path("rootfs");
    let spec = format!("type=local,dest={}", out.display());
    build(&env, &ctx, &["-t", &name, "-o", &spec]);
    let mut seen: Vec<String> = listing(&out)
        .into_iter()
        .filter(|p| {
            ["docs/", "ex/", "par/", "piv/"]
                .iter()
                .any(|d| p.starts_with(d))
        })
        .collect();
    seen.sort();
    assert_eq!(seen, EXPECTED);
    let mode = fs::metadata(out.join("par/a/c")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o7777,
        0o750
    );

    // Changing an excluded file keeps every step cached; changing a copied one does not.
    fs::write(ctx.join("src/drop.log"), "changed\n").unwrap();
    fs::write(ctx.join("a/b/g.txt"), "changed\n").unwrap();
    let log = build(&env, &ctx, &["-t", &name]);
    assert_eq!(log.matches("CACHED").count(), 4, "{log}");
    fs::write(ctx.join("src/keep.txt"), "changed\n").unwrap();
    let log = build(&env, &ctx, &["-t", &name]);
    assert_eq!(log.matches("CACHED").count(), 0, "{log}");

    // A --parents source without wildcards must exist.
    write(
        &ctx,
        &[("Dockerfile", "FROM base\nCOPY --parents a/nope /d/\n")],
    );
    let mut args = vec!["build", ctx.to_str().unwrap()];
    args.insert(0, "--progress");
    args.insert(1, "plain");
    let err = env.fails(&args, 1);
    assert!(err.contains("\"/a/nope\": not found"), "{err}");

    if !docker_available() {
        return;
    }
    let archive = env.path("img.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), &name]);
    tool("docker", &["load", "-i", archive.to_str().unwrap()]);
    let found = tool(
        "docker",
        &[
            "run",
            "--rm",
            "--network",
            "none",
            &name,
            "sh",
            "-c",
            "cd / && find docs ex par piv | sort",
        ],
    );
    let expected: Vec<String> = EXPECTED
        .iter()
        .map(|p| p.trim_end_matches('/').to_string())
        .collect();
    assert_eq!(found.lines().collect::<Vec<_>>(), expected);
    tool("docker", &["rmi", &name]);
}
