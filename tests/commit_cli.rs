//! `diff`, `commit` and `export` of containers, end to end: a container run by `strata run`
//! writes, changes and deletes image files and renames a directory; `diff` lists exactly
//! that, the committed image shows exactly that (in strata, and in docker after `save` ->
//! `docker load` -> `docker run`, with the `-c` config), `export` flattens it; `kill -9`
//! during a large commit leaves nothing visible and a consistent store.

mod common;

use common::{docker_available, tool, Env};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// `base` (the busybox rootfs) and `base2` built on it with known files to change.
fn images(env: &Env) {
    env.import_base("base");
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM base\nRUN mkdir -p /data/sub /keep && echo f > /data/f && echo g > /data/sub/g \
         && echo k > /keep/k && echo gone > /gone\n",
    )
    .unwrap();
    env.ok(&["build", "-q", "-t", "base2", ctx.to_str().unwrap()]);
}

const SCRIPT: &str = "echo hi > /x && echo more >> /keep/k && rm /gone && mv /data /moved";

const DIFF: &[&str] = &[
    "D /data",
    "D /gone",
    "C /keep",
    "C /keep/k",
    "A /moved",
    "A /moved/f",
    "A /moved/sub",
    "A /moved/sub/g",
    "A /x",
];

/// The paths of a tar listing (directories with their slash).
fn tar_names(tar: &Path) -> Vec<String> {
    tool("tar", &["tf", tar.to_str().unwrap()])
        .lines()
        .map(|l| l.trim_start_matches("./").to_string())
        .collect()
}

#[test]
fn diff_commit_export_show_exactly_the_containers_changes() {
    let env = Env::new();
    images(&env);
    env.ok(&["run", "--name", "c1", "base2", "sh", "-c", SCRIPT]);
    let diff: Vec<String> = env.ok(&["diff", "c1"]).lines().map(String::from).collect();
    assert_eq!(diff, DIFF);
    assert_eq!(
        env.ok(&["container", "diff", "c1"]).lines().count(),
        DIFF.len()
    );

    let out = env.ok(&[
        "commit",
        "-c",
        r#"CMD ["cat","/x"]"#,
        "-c",
        "ENV A=b",
        "-m",
        "msg",
        "-a",
        "me",
        "c1",
        "img:1",
    ]);
    let id = out.trim();
    assert!(
        id.starts_with("sha256:") && id.len() == 71,
        "commit prints the image ID: {out}"
    );
    assert_eq!(env.ok(&["images", "-q", "--no-trunc", "img:1"]).trim(), id);

    // history: docker's entry on top of the base's.
    let rows: Vec<serde_json::Value> = env
        .ok(&["history", "--no-trunc", "--format", "json", "img:1"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows[0]["CreatedBy"], format!("sh -c {SCRIPT}"));
    assert_eq!(rows[0]["Comment"], "msg");
    assert_eq!(rows[0]["ID"], id);
    assert_eq!(rows.len(), 3);

    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "img:1"])).unwrap();
    let config = &inspect[0]["Config"];
    assert_eq!(config["Cmd"], serde_json::json!(["cat", "/x"]));
    assert_eq!(config["Env"][0], "A=b");
    assert_eq!(inspect[0]["Author"], "me");

    // The image runs with the -c CMD and shows exactly the changes.
    assert_eq!(env.ok(&["run", "--rm", "img:1"]), "hi\n");
    let check = "cat /keep/k /moved/f /moved/sub/g; ls -d /data /gone 2>&1; echo $A";
    let seen = env.ok(&["run", "--rm", "img:1", "sh", "-c", check]);
    let expected_view = "k\nmore\nf\ng\nls: /data: No such file or directory\n\
                         ls: /gone: No such file or directory\nb\n";
    assert_eq!(seen, expected_view);
    // A container of the new image has changed nothing yet.
    env.ok(&["run", "--name", "c2", "img:1", "true"]);
    assert_eq!(env.ok(&["diff", "c2"]), "");

    // export: the flattened file system, whiteouts applied.
    let tar = env.path("c1.tar");
    env.ok(&["export", "-o", tar.to_str().unwrap(), "c1"]);
    let names = tar_names(&tar);
    for want in [
        "x",
        "keep/k",
        "moved/",
        "moved/f",
        "moved/sub/g",
        "bin/busybox",
        "etc/passwd",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    for gone in ["data/", "gone", "data/f"] {
        assert!(!names.iter().any(|n| n == gone), "{gone} exported");
    }
    // To stdout, the same bytes.
    let piped = env.cmd(&["export", "c1"]).output().unwrap();
    assert!(piped.status.success());
    assert_eq!(piped.stdout, std::fs::read(&tar).unwrap());

    // Errors: no such container, a bad change (nothing written).
    let before = env.snapshot();
    let err = env.fails(&["commit", "nope", "x:1"], 1);
    assert!(err.contains("No such container: nope"), "{err}");
    let err = env.fails(&["commit", "-c", "RUN true", "c1", "x:1"], 1);
    assert!(err.contains("run is not a valid change command"), "{err}");
    assert_eq!(env.snapshot(), before);
    let err = env.fails(&["diff", "nope"], 1);
    assert!(err.contains("No such container: nope"), "{err}");

    // Without a name: a dangling image; -p=false accepted.
    let out = env.ok(&["commit", "--pause=false", "c1"]);
    assert!(out.trim().starts_with("sha256:"));
    let check = env.ok(&["system", "check"]);
    assert!(check.contains("store is clean"), "{check}");

    if !docker_available() {
        return;
    }
    // docker sees the same image: the changes and the -c config.
    let name = env.load_into_docker("img:1", "strata-commit-test");
    let ran = tool("docker", &["run", "--rm", &name]);
    let seen = tool("docker", &["run", "--rm", &name, "sh", "-c", check_cmd()]);
    let inspected = tool(
        "docker",
        &[
            "inspect",
            "--format",
            "{{.Id}} {{json .Config.Cmd}} {{index .Config.Env 0}} {{.Author}}",
            &name,
        ],
    );
    let history = tool(
        "docker",
        &[
            "history",
            "--no-trunc",
            "--format",
            "{{.CreatedBy}}|{{.Comment}}",
            &name,
        ],
    );
    tool("docker", &["rmi", &name]);
    assert_eq!(ran, "hi\n");
    assert_eq!(seen, expected_view);
    assert_eq!(
        inspected.trim(),
        format!("{id} [\"cat\",\"/x\"] A=b me"),
        "docker computes the same ID and config"
    );
    assert_eq!(
        history.lines().next().unwrap(),
        format!("sh -c {SCRIPT}|msg")
    );
}

fn check_cmd() -> &'static str {
    "cat /keep/k /moved/f /moved/sub/g; ls -d /data /gone 2>&1; echo $A"
}

/// The bytes of the blobs being written now (in the store's temp dir).
fn temp_bytes(env: &Env) -> u64 {
    std::fs::read_dir(env.root().join("strata/v1/tmp"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn kill_9_during_a_large_commit_leaves_nothing_visible() {
    let env = Env::new();
    env.import_base("base");
    env.ok(&[
        "run",
        "--name",
        "big",
        "base",
        "sh",
        "-c",
        "dd if=/dev/urandom of=/big bs=1M count=300 2>/dev/null && echo done > /small",
    ]);
    let images_before = env.ok(&["images", "-a", "-q", "--no-trunc"]);
    for round in 0..2 {
        let mut child = env
            .cmd(&["commit", "big", "img:big"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Killed once the layer blob is well under way (round 0) or nearly done (round 1):
        // in the middle of the commit either way.
        let threshold = [8u64 << 20, 200 << 20][round];
        let deadline = Instant::now() + Duration::from_secs(300);
        while temp_bytes(&env) < threshold {
            assert!(
                child.try_wait().unwrap().is_none(),
                "round {round}: commit ended before it could be killed"
            );
            assert!(Instant::now() < deadline, "round {round}: no progress");
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "round {round}: killed");
        assert_eq!(
            env.ok(&["images", "-a", "-q", "--no-trunc"]),
            images_before,
            "round {round}: no image appeared"
        );
        let out = env.run(&["system", "check"]);
        assert!(
            out.status.success(),
            "round {round}: check found errors:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        env.ok(&["system", "check", "--repair"]);
        let check = env.ok(&["system", "check"]);
        assert!(check.contains("store is clean"), "{check}");
    }
    // The container is intact: a re-run commits it.
    let id = env.ok(&["commit", "big", "img:big"]);
    assert_eq!(env.ok(&["images", "-q", "--no-trunc", "img:big"]), id);
    assert_eq!(
        env.ok(&["run", "--rm", "img:big", "cat", "/small"]),
        "done\n"
    );
    let size = env.ok(&["run", "--rm", "img:big", "sh", "-c", "wc -c < /big"]);
    assert_eq!(size.trim(), "314572800");
    let check = env.ok(&["system", "check"]);
    assert!(check.contains("store is clean"), "{check}");
}

#[test]
fn a_running_container_commits_without_the_runtimes_mount_stubs() {
    let env = Env::new();
    env.import_base("base");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "r1",
        "base",
        "sh",
        "-c",
        "echo a > /a; sleep 1000",
    ]);
    let deadline = Instant::now() + Duration::from_secs(30);
    // While it runs, /etc/hosts and /etc/resolv.conf are mount points in its upper dir:
    // not changes.
    while env.ok(&["diff", "r1"]) != "A /a\n" {
        assert!(
            Instant::now() < deadline,
            "diff: {}",
            env.ok(&["diff", "r1"])
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let id = env.ok(&["commit", "r1", "img:r"]);
    let ps = env.ok(&["ps", "--filter", "name=r1", "--format", "json"]);
    let ps: serde_json::Value = serde_json::from_str(ps.trim()).unwrap();
    assert!(
        ps["Status"].as_str().unwrap().starts_with("Up"),
        "running again after the commit: {ps}"
    );
    // The committed layer holds /a only.
    let archive = env.path("r.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), "img:r"]);
    let dir = env.path("r");
    std::fs::create_dir(&dir).unwrap();
    tool(
        "tar",
        &["xf", archive.to_str().unwrap(), "-C", dir.to_str().unwrap()],
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let layers = manifest[0]["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    let last = dir.join(layers[1].as_str().unwrap());
    assert_eq!(tar_names(&last), ["a"]);
    assert_eq!(
        format!(
            "sha256:{}",
            manifest[0]["Config"]
                .as_str()
                .unwrap()
                .rsplit(['/', ':'])
                .next()
                .unwrap()
                .trim_end_matches(".json")
        ),
        id.trim()
    );
    env.ok(&["rm", "-f", "r1"]);
}
