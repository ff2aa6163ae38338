//! `import`, `images`, `tag`, `rmi`, `inspect`, `history`, `save`/`load`, `image prune`,
//! `system df`/`check` through the real binary.

mod common;

use common::{base_rootfs, Env};
use serde_json::Value;
use std::io::Write;

fn inspect(env: &Env, name: &str) -> Value {
    let out = env.ok(&["inspect", name]);
    let value: Value = serde_json::from_str(&out).expect("inspect prints JSON");
    value[0].clone()
}

#[test]
fn import_with_changes_and_message() {
    let env = Env::new();
    let tar = base_rootfs();
    let id = env
        .ok(&[
            "import",
            "-c",
            "CMD [\"/bin/sh\"]",
            "-c",
            "ENV PATH=/bin GREETING=hi",
            "-c",
            "WORKDIR /srv",
            "-c",
            "USER app",
            "-c",
            "EXPOSE 8080",
            "-c",
            "LABEL a=b",
            "-c",
            "VOLUME /data",
            "-m",
            "base image",
            tar.to_str().unwrap(),
            "base:1",
        ])
        .trim()
        .to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let info = inspect(&env, "base:1");
    assert_eq!(info["Id"], id);
    assert_eq!(info["RepoTags"], serde_json::json!(["base:1"]));
    assert_eq!(info["Comment"], "base image");
    assert_eq!(info["Os"], "linux");
    let config = &info["Config"];
    assert_eq!(config["Cmd"], serde_json::json!(["/bin/sh"]));
    assert_eq!(
        config["Env"],
        serde_json::json!(["PATH=/bin", "GREETING=hi"])
    );
    assert_eq!(config["WorkingDir"], "/srv");
    assert_eq!(config["User"], "app");
    assert_eq!(config["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert_eq!(config["Labels"], serde_json::json!({"a": "b"}));
    assert_eq!(config["Volumes"], serde_json::json!({"/data": {}}));
    assert_eq!(info["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    // The layer's diffID is the sha256 of the tar as given.
    let tar_digest = common::tool("sha256sum", &[tar.to_str().unwrap()]);
    let expected = format!("sha256:{}", tar_digest.split_whitespace().next().unwrap());
    assert_eq!(info["RootFS"]["Layers"][0], expected);
    let history = env.ok(&["history", "base:1"]);
    assert!(history.starts_with("IMAGE"), "{history}");
    assert!(history.contains("base image"), "{history}");
    assert!(history.contains(&id[7..19]), "{history}");
}

#[test]
fn import_detects_gzip_and_zstd_and_reads_stdin() {
    let env = Env::new();
    let tar = std::fs::read(base_rootfs()).unwrap();
    let plain_id = env.import_base("plain");
    let gz = env.path("rootfs.tar.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&tar).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let zst = env.path("rootfs.tar.zst");
    let status = std::process::Command::new("zstd")
        .args([
            "-q",
            "-f",
            base_rootfs().to_str().unwrap(),
            "-o",
            zst.to_str().unwrap(),
        ])
        .status()
        .expect("zstd (tests/setup-host.sh installs it)");
    assert!(status.success());
    let layer = |name: &str| inspect(&env, name)["RootFS"]["Layers"][0].clone();
    env.ok(&["import", gz.to_str().unwrap(), "gz"]);
    env.ok(&["import", zst.to_str().unwrap(), "zst"]);
    let mut child = env
        .cmd(&["import", "-", "stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&tar).unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    assert_eq!(layer("gz"), layer("plain"));
    assert_eq!(layer("zst"), layer("plain"));
    assert_eq!(layer("stdin"), layer("plain"));
    assert!(inspect(&env, "stdin")["Comment"] == "Imported from -");
    assert!(!plain_id.is_empty());
}

#[test]
fn images_lists_filters_and_formats() {
    let env = Env::new();
    let id = env.import_base("busybox");
    env.ok(&["tag", "busybox", "localhost:5000/team/app:v1"]);
    let table = env.ok(&["images"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("REPOSITORY"), "{table}");
    for col in ["TAG", "IMAGE ID", "CREATED", "SIZE"] {
        assert!(lines[0].contains(col), "{table}");
    }
    assert!(
        table.contains("busybox") && table.contains("latest"),
        "{table}"
    );
    assert!(
        table.contains("localhost:5000/team/app") && table.contains("v1"),
        "{table}"
    );
    assert!(table.contains(&id[7..19]));
    assert_eq!(env.ok(&["images", "-q"]).lines().count(), 2);
    assert!(env.ok(&["images", "-q", "--no-trunc"]).contains(&id));
    let filtered = env.ok(&["images", "--filter", "reference=busy*"]);
    assert!(
        filtered.contains("busybox") && !filtered.contains("team/app"),
        "{filtered}"
    );
    let json = env.ok(&["images", "--format", "json"]);
    for line in json.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(v["Repository"].is_string() && v["ID"].is_string());
    }
    assert!(env.ok(&["images", "--digests"]).contains("DIGEST"));
    // Moving the only tag leaves the old image dangling, as docker shows it.
    env.ok(&[
        "import",
        "-m",
        "first",
        base_rootfs().to_str().unwrap(),
        "solo",
    ]);
    env.ok(&[
        "import",
        "-m",
        "second",
        base_rootfs().to_str().unwrap(),
        "solo",
    ]);
    let dangling = env.ok(&["images", "--filter", "dangling=true"]);
    assert!(
        dangling.contains("<none>") && !dangling.contains("solo"),
        "{dangling}"
    );
    let err = env.fails(&["images", "--filter", "bogus=1"], 1);
    assert!(err.contains("invalid filter"), "{err}");
}

#[test]
fn rmi_untags_then_deletes() {
    let env = Env::new();
    let id = env.import_base("a:1");
    env.ok(&["tag", "a:1", "b:2"]);
    let out = env.ok(&["rmi", "a:1"]);
    assert_eq!(out.trim(), "Untagged: a:1");
    // By ID with one name left: untag and delete.
    let short = &id[7..19];
    let err = {
        env.ok(&["tag", "b:2", "c:3"]);
        env.fails(&["rmi", short], 1)
    };
    assert!(
        err.contains("must be forced") && err.contains("multiple repositories"),
        "{err}"
    );
    let out = env.ok(&["rmi", "-f", short]);
    assert!(
        out.contains("Untagged: b:2") && out.contains("Untagged: c:3"),
        "{out}"
    );
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
    assert_eq!(env.ok(&["images", "-q"]), "");
    let blobs = std::fs::read_dir(env.root().join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0, "rmi leaves no blob behind");
    let report = env.ok(&["system", "check"]);
    assert!(report.contains("store is clean"), "{report}");
}

#[test]
fn save_and_load_round_trip_in_both_formats() {
    for format in ["docker", "oci"] {
        let env = Env::new();
        let id = env.import_base("app:1");
        let archive = env.path("app.tar");
        env.ok(&[
            "save",
            "--format",
            format,
            "-o",
            archive.to_str().unwrap(),
            "app:1",
        ]);
        let other = Env::new();
        let out = other.ok(&["load", "-i", archive.to_str().unwrap()]);
        assert_eq!(out.trim(), "Loaded image: app:1", "{format}");
        assert_eq!(
            inspect(&other, "app:1")["Id"],
            id,
            "{format}: image ID kept"
        );
        let digest = |e: &Env| e.ok(&["images", "--digests", "--format", "json"]);
        let a: Value = serde_json::from_str(digest(&env).trim()).unwrap();
        let b: Value = serde_json::from_str(digest(&other).trim()).unwrap();
        assert_eq!(a["Digest"], b["Digest"], "{format}: manifest digest kept");
    }
}

#[test]
fn prune_df_and_completion() {
    let env = Env::new();
    env.import_base("keep");
    env.import_base("moved");
    env.ok(&[
        "import",
        "-m",
        "again",
        base_rootfs().to_str().unwrap(),
        "moved",
    ]);
    let df = env.ok(&["system", "df"]);
    assert!(
        df.starts_with("TYPE") && df.contains("Images") && df.contains("Build Cache"),
        "{df}"
    );
    let out = env.ok(&["image", "prune", "-f"]);
    assert!(out.contains("deleted: sha256:"), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert_eq!(env.ok(&["images", "-q"]).lines().count(), 2);
    let out = env.ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains("untagged: keep:latest"), "{out}");
    assert_eq!(env.ok(&["images", "-q"]), "");
    for shell in ["bash", "zsh", "fish"] {
        assert!(env.ok(&["completion", shell]).contains("strata"));
    }
    assert!(env.ok(&["--version"]).starts_with("strata "));
}

#[test]
fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let env = Env::new();
    env.import_base("base");
    let before = env.snapshot();

    let tar = std::fs::read(base_rootfs()).unwrap();
    let truncated = env.path("truncated.tar");
    std::fs::write(&truncated, &tar[..tar.len() / 2]).unwrap();
    let err = env.fails(&["import", truncated.to_str().unwrap(), "broken"], 1);
    assert!(
        err.starts_with("error: ") && err.contains("truncated"),
        "{err}"
    );

    let text = env.path("notes.txt");
    std::fs::write(&text, "this is not a tar archive, just text\n".repeat(40)).unwrap();
    let err = env.fails(&["import", text.to_str().unwrap(), "broken"], 1);
    assert!(err.contains("not a tar archive"), "{err}");

    let err = env.fails(&["import", base_rootfs().to_str().unwrap(), "Bad/Name"], 1);
    assert!(err.contains("must be lowercase"), "{err}");
    let err = env.fails(&["tag", "base", "UPPER"], 1);
    assert!(err.contains("invalid reference format"), "{err}");

    let err = env.fails(&["rmi", "nosuchimage"], 1);
    assert!(err.contains("No such image: nosuchimage"), "{err}");
    let err = env.fails(&["inspect", "nosuchimage"], 1);
    assert!(err.contains("No such object: nosuchimage"), "{err}");

    let archive = env.path("ok.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), "base"]);
    let mut bytes = std::fs::read(&archive).unwrap();
    let corrupt = env.path("corrupt.tar");
    // Flip bytes inside the first blob's content: its digest no longer matches its name.
    let at = bytes.len() / 3;
    for b in &mut bytes[at..at + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(&corrupt, &bytes).unwrap();
    let err = env.fails(&["load", "-i", corrupt.to_str().unwrap()], 1);
    assert!(err.starts_with("error: loading the archive"), "{err}");
    let half = env.path("half.tar");
    std::fs::write(&half, &std::fs::read(&archive).unwrap()[..4096]).unwrap();
    env.fails(&["load", "-i", half.to_str().unwrap()], 1);

    let err = env.fails(&["images", "--no-such-flag"], 2);
    assert!(err.contains("--no-such-flag"), "{err}");

    // Nothing named, nothing half-written: the catalogue is unchanged and every blob the
    // failed commands wrote is unreferenced garbage that check --repair removes.
    env.ok(&["system", "check", "--repair"]);
    assert_eq!(env.snapshot(), before);
}

#[test]
fn closed_stdout_ends_quietly() {
    let env = Env::new();
    env.import_base("base:1");
    // A reader that goes away at once, as `strata inspect base:1 | true` has.
    let mut child = env
        .cmd(&["inspect", "base:1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn strata");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert!(
        matches!(out.status.code(), Some(0) | Some(141)),
        "status {:?}, stderr: {stderr}",
        out.status
    );
}
