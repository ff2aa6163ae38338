//! COPY/ADD/WORKDIR destinations through symlinks the image already has: followed inside the
//! image as BuildKit does (`/app -> /opt/app`: the file lands in /opt/app, the layer holds
//! opt/app/FILE and not app), never on the host (a link to /etc writes the image's /etc, a
//! link to a host file is not read). Checked from the saved layers and, when dockerd answers,
//! `strata save --format docker` -> `docker load` -> `docker run`.

mod common;

use common::{docker_available, tool, Env};
use std::fs;
use std::path::Path;

fn build(env: &Env, ctx: &Path, tag: &str) -> std::process::Output {
    env.run(&[
        "--progress",
        "plain",
        "build",
        "-t",
        tag,
        ctx.to_str().unwrap(),
    ])
}

fn ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "build failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The entries of each layer of `image`, from a `save --format docker` archive.
fn layer_entries(env: &Env, image: &str) -> Vec<Vec<String>> {
    let archive = env.path("layers.tar");
    env.ok(&[
        "save",
        "--format",
        "docker",
        "-o",
        archive.to_str().unwrap(),
        image,
    ]);
    let dir = env.path("layers");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir(&dir).unwrap();
    tool(
        "tar",
        &[
            "-xf",
            archive.to_str().unwrap(),
            "-C",
            dir.to_str().unwrap(),
        ],
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let path = dir.join(l.as_str().unwrap());
            tool("tar", &["-tf", path.to_str().unwrap()])
                .lines()
                .map(|s| s.trim_end_matches('/').to_string())
                .collect()
        })
        .collect()
}

#[test]
fn destinations_follow_links_inside_the_image() {
    let env = Env::new();
    env.import_base("base");
    let ctx = env.path("ctx");
    fs::create_dir(&ctx).unwrap();
    fs::write(ctx.join("f.txt"), "payload\n").unwrap();
    // A name no host has, so the host's /etc can be checked afterwards.
    let hostile = format!("strata-hostile-{}", std::process::id());
    // A host file the image does not have: its /etc/passwd is linked to it.
    let host_passwd = env.path("host-passwd");
    fs::write(&host_passwd, "hostonly:x:4242:4242::/:/bin/sh\n").unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM base AS links
RUN mkdir -p /opt/app /run && rm -rf /var/run && ln -s ../run /var/run \\
 && ln -s /opt/app /app && ln -s /etc /hostetc && ln -s /opt/w /wlink \\
 && ln -s /../../opt/app /escape
FROM links
COPY f.txt /app/
COPY f.txt /var/run/pid.txt
COPY f.txt /hostetc/{hostile}
ADD f.txt /escape/added.txt
COPY f.txt /app/deeper/
WORKDIR /wlink
"
        ),
    )
    .unwrap();
    ok(&build(&env, &ctx, "linked"));
    assert!(
        !Path::new("/etc").join(&hostile).exists(),
        "COPY wrote through the image's link to the host's /etc"
    );

    let layers = layer_entries(&env, "linked");
    let n = layers.len();
    // The five COPY/ADD layers and the WORKDIR layer are the last six.
    let copy_app = &layers[n - 6];
    assert!(
        copy_app.contains(&"opt/app/f.txt".to_string()),
        "{copy_app:?}"
    );
    assert!(copy_app.contains(&"opt/app".to_string()), "{copy_app:?}");
    assert!(
        !copy_app.iter().any(|e| e == "app" || e.starts_with("app/")),
        "{copy_app:?}"
    );
    assert_eq!(
        layers[n - 5].last().map(String::as_str),
        Some("run/pid.txt"),
        "{:?}",
        layers[n - 5]
    );
    assert!(
        layers[n - 4].contains(&format!("etc/{hostile}")),
        "{:?}",
        layers[n - 4]
    );
    assert!(
        layers[n - 3].contains(&"opt/app/added.txt".to_string()),
        "{:?}",
        layers[n - 3]
    );
    assert!(
        layers[n - 2].contains(&"opt/app/deeper/f.txt".to_string()),
        "{:?}",
        layers[n - 2]
    );
    assert!(
        layers[n - 1].contains(&"opt/w".to_string()),
        "{:?}",
        layers[n - 1]
    );
    assert!(
        !layers[n - 1].contains(&"wlink".to_string()),
        "{:?}",
        layers[n - 1]
    );

    // /etc/passwd linked to a host file the image lacks: --chown must not read the host's.
    fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM linked
RUN ln -sf {} /etc/passwd
COPY --chown=hostonly f.txt /x
",
            host_passwd.display()
        ),
    )
    .unwrap();
    let out = build(&env, &ctx, "hostread");
    assert!(!out.status.success(), "the host's passwd file was read");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unable to find user hostonly"), "{err}");

    // A chain of links that never ends fails with ELOOP.
    fs::write(
        ctx.join("Dockerfile"),
        "FROM linked\nRUN ln -s /l2 /l1 && ln -s /l1 /l2\nCOPY f.txt /l1/x\n",
    )
    .unwrap();
    let out = build(&env, &ctx, "loop");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("symbolic links"), "{err}");

    if !docker_available() {
        return;
    }
    let archive = env.path("img.tar");
    env.ok(&[
        "save",
        "--format",
        "docker",
        "-o",
        archive.to_str().unwrap(),
        "linked",
    ]);
    tool("docker", &["load", "-i", archive.to_str().unwrap()]);
    let seen = tool(
        "docker",
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "linked",
            "sh",
            "-c",
            &format!(
                "pwd -P; ls -l / | grep -o 'app -> .*'; ls /opt/app /opt/app/deeper; cat /run/pid.txt; \
                 test -L /var/run && echo var-run-link; test -f /etc/{hostile} && echo etc-file; \
                 test -d /opt/w && echo opt-w"
            ),
        ],
    );
    assert_eq!(
        seen.lines().collect::<Vec<_>>(),
        [
            "/opt/w",
            "app -> /opt/app",
            "/opt/app:",
            "added.txt",
            "deeper",
            "f.txt",
            "",
            "/opt/app/deeper:",
            "f.txt",
            "payload",
            "var-run-link",
            "etc-file",
            "opt-w",
        ],
        "{seen}"
    );
    let workdir = tool(
        "docker",
        &["inspect", "-f", "{{.Config.WorkingDir}}", "linked"],
    );
    assert_eq!(workdir.trim(), "/wlink");
    tool("docker", &["rmi", "linked"]);
}

/// `RUN --mount=type=bind,from=STAGE` shows the stage's layers merged (a file deleted by a
/// later layer is gone), follows a symlinked `source` inside the stage (a link to /etc shows
/// the stage's /etc, not the host's), is read-only unless `rw`, and `rw` writes are dropped.
#[test]
fn bind_mounts_from_stages_use_the_snapshots() {
    let env = Env::new();
    env.import_base("base");
    let ctx = env.path("ctx");
    fs::create_dir(&ctx).unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        "FROM base AS src
RUN mkdir -p /opt/out/sub && echo one > /opt/out/a && echo two > /opt/out/sub/b \\
 && echo gone > /opt/out/gone && ln -s /opt/out /out && ln -s /etc /hostetc \\
 && ln -s sub/b /opt/out/rel
RUN rm /opt/out/gone && echo three > /opt/out/c && chmod 0640 /opt/out/c
FROM base
RUN --mount=type=bind,from=src,source=/out,target=/m \\
    cd /m && find . | sort > /list.txt && cat a sub/b c rel > /cat.txt \\
 && stat -c %a c > /mode.txt && (touch /m/new 2>/dev/null && echo writable || echo ro) > /ro.txt
RUN --mount=type=bind,from=src,source=/hostetc,target=/e ls /e > /etc-list.txt
RUN --mount=type=bind,from=src,source=/out/sub/b,target=/f cat /f > /file.txt
RUN --mount=type=bind,from=src,source=out,target=/w,rw echo x > /w/new && echo x >> /w/a && cat /w/a > /rw.txt
RUN --mount=type=bind,from=src,source=/out,target=/m2 ls /m2 > /after.txt
",
    )
    .unwrap();
    let out = env.path("out");
    let log = env.run(&[
        "--progress",
        "plain",
        "build",
        "-o",
        &format!("type=local,dest={}", out.display()),
        ctx.to_str().unwrap(),
    ]);
    ok(&log);
    let read = |name: &str| fs::read_to_string(out.join(name)).unwrap();
    assert_eq!(read("list.txt"), ".\n./a\n./c\n./rel\n./sub\n./sub/b\n");
    assert_eq!(read("cat.txt"), "one\ntwo\nthree\ntwo\n");
    assert_eq!(read("mode.txt"), "640\n");
    assert_eq!(read("ro.txt"), "ro\n");
    assert_eq!(read("etc-list.txt"), "group\npasswd\n");
    assert_eq!(read("file.txt"), "two\n");
    assert_eq!(read("rw.txt"), "one\nx\n");
    assert_eq!(read("after.txt"), "a\nc\nrel\nsub\n");
}
