//! Shared fixtures of the sandbox tests: a busybox rootfs from
//! testdata/make-rootfs.sh, extracted with tar into a temp dir, and a
//! RunSpec over it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use strata_builder::sandbox::{ExitStatus, NetworkMode, Process, Result, RunSpec, Sandbox, StepIo};

/// The sandbox needs root (namespaces, mounts): fail loudly, never pass quietly.
pub fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "the sandbox tests need root (mount and namespace privileges); run them as root"
    );
}

/// The busybox rootfs tar, made once per test binary.
fn rootfs_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("strata-sandbox-tests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let tar = dir.join("rootfs.tar");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/make-rootfs.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(&tar)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "make-rootfs.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tar
    })
}

/// A lower dir with the busybox rootfs, an empty upper and work dir, and a
/// state dir, all under one temp dir.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub lower: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub state: PathBuf,
}

impl Fixture {
    pub fn new() -> Fixture {
        require_root();
        let tmp = tempfile::tempdir().unwrap();
        let lower = tmp.path().join("lower");
        let upper = tmp.path().join("upper");
        let work = tmp.path().join("work");
        let state = tmp.path().join("state");
        for d in [&lower, &upper, &work] {
            std::fs::create_dir(d).unwrap();
        }
        let st = Command::new("tar")
            .arg("-xf")
            .arg(rootfs_tar())
            .arg("-C")
            .arg(&lower)
            .status()
            .unwrap();
        assert!(st.success());
        Fixture {
            tmp,
            lower,
            upper,
            work,
            state,
        }
    }

    /// A step running `sh -c script` as root in /, network none.
    pub fn spec(&self, script: &str) -> RunSpec {
        RunSpec {
            lowers: vec![self.lower.clone()],
            upper: self.upper.clone(),
            work: self.work.clone(),
            process: Process {
                args: vec!["/bin/sh".into(), "-c".into(), script.into()],
                env: vec![
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                ],
                cwd: "/".into(),
                uid: 0,
                gid: 0,
                additional_gids: vec![],
            },
            network: NetworkMode::None,
            mounts: vec![],
            hostname: "strata-test".into(),
            hosts: "127.0.0.1\tlocalhost\n".into(),
            resolv_conf: "nameserver 192.0.2.53\n".into(),
        }
    }

    pub fn sandbox(&self, runtime: strata_builder::sandbox::Runtime) -> Sandbox {
        Sandbox::new(runtime).with_state_dir(&self.state)
    }

    /// Paths below the upper dir, relative, sorted.
    pub fn upper_entries(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.upper, &self.upper, &mut out);
        out.sort();
        out
    }

    /// The state dir holds nothing but the runtime's (empty) state root.
    pub fn assert_state_clean(&self) {
        let mut left = Vec::new();
        walk(&self.state, &self.state, &mut left);
        left.retain(|p| p != "runtime-state");
        assert!(left.is_empty(), "left in the state dir: {left:?}");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let tmp = self.tmp.path().to_string_lossy().into_owned();
        assert!(
            !mounts.contains(&tmp),
            "a mount under {tmp} is left:\n{mounts}"
        );
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
        if e.file_type().unwrap().is_dir() {
            walk(root, &p, out);
        }
    }
}

/// Runs and captures stdout and stderr.
pub fn run(sandbox: &Sandbox, spec: &RunSpec) -> Result<(ExitStatus, String, String)> {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let st = sandbox.run(spec, StepIo::new(&mut out, &mut err))?;
    Ok((
        st,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    ))
}
