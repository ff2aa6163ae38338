//! Interoperability with docker, skopeo and umoci: strata's archives load and run there, and
//! docker's archives load here with the image ID kept. CI (tests/setup-host.sh) installs the
//! tools and starts dockerd; with STRATA_REQUIRE_DOCKER=1 a missing daemon fails the test.

mod common;

use common::{docker_available, tool, Env};

#[test]
fn docker_loads_and_runs_a_strata_image_and_strata_loads_docker_save() {
    if !docker_available() {
        return;
    }
    let env = Env::new();
    let name = format!("strata-interop-{}:t", std::process::id());
    let tar = common::base_rootfs();
    let id = env
        .ok(&[
            "import",
            "-c",
            "ENV GREETING=hello",
            tar.to_str().unwrap(),
            &name,
        ])
        .trim()
        .to_string();
    let archive = env.path("docker.tar");
    env.ok(&[
        "save",
        "--format",
        "docker",
        "-o",
        archive.to_str().unwrap(),
        &name,
    ]);
    let loaded = tool("docker", &["load", "-i", archive.to_str().unwrap()]);
    assert!(loaded.contains(&name), "{loaded}");
    let out = tool(
        "docker",
        &[
            "run",
            "--rm",
            "--network",
            "none",
            &name,
            "/bin/sh",
            "-c",
            "echo ok $GREETING",
        ],
    );
    assert_eq!(out.trim(), "ok hello");
    let docker_id = tool(
        "docker",
        &["image", "inspect", "--format", "{{.Id}}", &name],
    );
    assert_eq!(docker_id.trim(), id, "docker computes the same image ID");

    // docker save -> strata load keeps the image ID.
    let saved = env.path("from-docker.tar");
    tool("docker", &["save", "-o", saved.to_str().unwrap(), &name]);
    let other = Env::new();
    let out = other.ok(&["load", "-i", saved.to_str().unwrap()]);
    assert!(out.contains(&format!("Loaded image: {name}")), "{out}");
    let inspected: serde_json::Value =
        serde_json::from_str(&other.ok(&["inspect", &name])).unwrap();
    assert_eq!(inspected[0]["Id"], id);
    assert!(other.ok(&["system", "check"]).contains("store is clean"));
    tool("docker", &["rmi", &name]);
}

#[test]
fn skopeo_and_umoci_accept_the_oci_archive() {
    if !docker_available() {
        // skopeo and umoci come with the same host setup as docker.
        return;
    }
    let env = Env::new();
    env.import_base("demo:1");
    let archive = env.path("oci.tar");
    env.ok(&[
        "save",
        "--format",
        "oci",
        "-o",
        archive.to_str().unwrap(),
        "demo:1",
    ]);
    let out = tool(
        "skopeo",
        &["inspect", &format!("oci-archive:{}", archive.display())],
    );
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(value["Os"], "linux");
    assert_eq!(value["Layers"].as_array().unwrap().len(), 1);

    let layout = env.path("layout");
    std::fs::create_dir(&layout).unwrap();
    tool(
        "tar",
        &[
            "-xf",
            archive.to_str().unwrap(),
            "-C",
            layout.to_str().unwrap(),
        ],
    );
    let bundle = env.path("bundle");
    tool(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:1", layout.display()),
            bundle.to_str().unwrap(),
        ],
    );
    assert!(bundle.join("rootfs/bin/busybox").is_file());
    assert!(bundle.join("config.json").is_file());
}
