//! Helpers for the end-to-end tests: run the real `strata` binary against a fresh store.

#![allow(dead_code)]

pub mod netns;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The `strata` binary cargo built for these tests.
pub fn strata_bin() -> &'static str {
    env!("CARGO_BIN_EXE_strata")
}

/// A fresh store directory (removed when dropped).
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A `strata` command with `--root` set to this environment's store.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(strata_bin());
        cmd.arg("--root").arg(self.root()).args(args);
        cmd.env_remove("STRATA_ROOT");
        // Containers get loopback only unless a test asks for a network: only tests in a
        // network namespace of their own (see `netns`) make bridges and veths.
        cmd.env("STRATA_DEFAULT_NETWORK", "none");
        cmd
    }

    /// Runs `strata ARGS`, returning its output whatever the exit status.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("run strata")
    }

    /// Runs `strata ARGS`, which must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "strata {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs `strata ARGS`, which must fail with `code`; returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "strata {args:?}: expected exit {code}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).expect("utf-8 stderr")
    }

    /// Imports the base rootfs as `name`; returns the image ID.
    pub fn import_base(&self, name: &str) -> String {
        let tar = base_rootfs();
        self.ok(&["import", tar.to_str().unwrap(), name])
            .trim()
            .to_string()
    }

    /// Hands the store's image `image` to dockerd the way a user would (`strata save --format
    /// docker` -> `docker load`), under a name unique to this test process; returns that name
    /// (the caller `docker rmi`s it when done).
    pub fn load_into_docker(&self, image: &str, prefix: &str) -> String {
        let name = format!("{prefix}-{}:t", std::process::id());
        self.ok(&["tag", image, &name]);
        let archive = self.path("docker-load.tar");
        let archive = archive.to_str().unwrap();
        self.ok(&["save", "--format", "docker", "-o", archive, &name]);
        tool("docker", &["load", "-i", archive]);
        name
    }

    /// index.json and the list of blob files, to prove a failed command changed nothing.
    pub fn snapshot(&self) -> (String, Vec<String>) {
        let index = std::fs::read_to_string(self.root().join("index.json")).unwrap_or_default();
        let mut blobs: Vec<String> = std::fs::read_dir(self.root().join("blobs/sha256"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into())
                    .collect()
            })
            .unwrap_or_default();
        blobs.sort();
        (index, blobs)
    }
}

/// The deterministic busybox rootfs of testdata/, made once per test binary.
pub fn base_rootfs() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rootfs");
        std::fs::create_dir_all(&dir).unwrap();
        // One file per process: test binaries run concurrently and must not share a half-written tar.
        let out = dir.join(format!("base-{}.tar", std::process::id()));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/make-rootfs.sh");
        let status = Command::new(script)
            .arg(&out)
            .stdout(Stdio::null())
            .status()
            .expect("run testdata/make-rootfs.sh");
        assert!(status.success(), "testdata/make-rootfs.sh failed");
        out
    })
}

/// True when the docker-dependent tests must run (CI sets STRATA_REQUIRE_DOCKER=1); otherwise
/// they run only when a docker daemon answers.
pub fn docker_available() -> bool {
    let answers = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !answers && std::env::var_os("STRATA_REQUIRE_DOCKER").is_some() {
        panic!("STRATA_REQUIRE_DOCKER is set but no docker daemon answers (tests/setup-host.sh starts one)");
    }
    if !answers {
        eprintln!("docker daemon not available: interop test not run (set STRATA_REQUIRE_DOCKER=1 to require it)");
    }
    answers
}

/// Runs an external tool, which must succeed; returns stdout.
pub fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
