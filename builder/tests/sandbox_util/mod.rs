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

/// The busybox rootfs tar, made once and kept under the temp dir, named by
/// the hash of the script that makes it (so a changed script makes a new one).
fn rootfs_tar() -> &'static Path {
    use sha2::Digest;
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/make-rootfs.sh");
        let key = hex::encode(&sha2::Sha256::digest(std::fs::read(&script).unwrap())[..8]);
        let dir = std::env::temp_dir().join("strata-sandbox-tests");
        std::fs::create_dir_all(&dir).unwrap();
        let tar = dir.join(format!("rootfs-{key}.tar"));
        if !tar.exists() {
            // Made aside and renamed, so concurrent test binaries never see half a tar.
            let part = dir.join(format!("rootfs-{key}.{}.part", std::process::id()));
            let out = Command::new("bash")
                .arg(&script)
                .arg(&part)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "make-rootfs.sh failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::fs::rename(&part, &tar).unwrap();
        }
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
            limits: Default::default(),
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

/// The isolation checks, shared by the runtimes' test files.
pub mod checks {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use std::time::{Duration, Instant};
    use strata_builder::sandbox::{CancelToken, Mount, MountKind, Runtime, SandboxError};

    fn ok(sb: &Sandbox, spec: &RunSpec) -> String {
        let (st, out, err) = run(sb, spec).expect("the step runs");
        assert!(st.success(), "{st}: stdout {out:?} stderr {err:?}");
        out
    }

    pub fn ps_shows_only_the_steps_processes(rt: Runtime) {
        let f = Fixture::new();
        let out = ok(
            &f.sandbox(rt),
            &f.spec("sleep 30 & sleep 0.3; ps -o pid,comm; kill %1"),
        );
        let procs: Vec<(u32, String)> = out
            .lines()
            .skip(1)
            .map(|l| {
                let mut w = l.split_whitespace();
                (
                    w.next().unwrap().parse().unwrap(),
                    w.next().unwrap().to_string(),
                )
            })
            .collect();
        let names: Vec<&str> = procs.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["sh", "sleep", "ps"], "{out}");
        assert_eq!(procs[0].0, 1, "the step's shell is PID 1 of its namespace");
    }

    pub fn host_files_are_not_visible(rt: Runtime) {
        let f = Fixture::new();
        let name = format!("strata-sentinel-{}", std::process::id());
        let sentinel = Path::new("/tmp").join(&name);
        std::fs::write(&sentinel, "host").unwrap();
        let script = format!(
            "test -e /tmp/{name} && echo visible || echo hidden; ls /; \
             cat /proc/1/cmdline | tr '\\0' ' '; echo; cat /proc/self/mountinfo"
        );
        let out = ok(&f.sandbox(rt), &f.spec(&script));
        std::fs::remove_file(&sentinel).unwrap();
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("hidden"), "{out}");
        let tmp = f.tmp.path().to_string_lossy().into_owned();
        // Only the rootfs: no host paths anywhere but in the overlay's options
        // and the roots of the two file binds (docker shows those too).
        let binds = [" /etc/hosts ", " /etc/resolv.conf "];
        for l in out
            .lines()
            .filter(|l| !l.contains(" - overlay ") && !binds.iter().any(|b| l.contains(b)))
        {
            assert!(!l.contains(&tmp), "host path visible: {l}");
        }
        for l in out.lines().filter(|l| l.contains(" / / ")) {
            assert!(l.contains("overlay"), "/ is the overlay: {l}");
        }
    }

    fn status_field<'a>(out: &'a str, name: &str) -> &'a str {
        out.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
            .unwrap_or_else(|| panic!("no {name} in {out}"))
            .trim()
    }

    pub fn capabilities_are_dockers_with_no_new_privs(rt: Runtime) {
        let f = Fixture::new();
        let sb = f.sandbox(rt);
        let out = ok(&sb, &f.spec("cat /proc/self/status"));
        for field in ["CapEff", "CapPrm", "CapBnd"] {
            assert_eq!(status_field(&out, field), "00000000a80425fb", "{field}");
        }
        assert_eq!(status_field(&out, "CapAmb"), "0000000000000000");
        assert_eq!(status_field(&out, "CapInh"), "0000000000000000");
        assert_eq!(status_field(&out, "NoNewPrivs"), "1");
        // A non-root user keeps the bounding set only, as with docker.
        let mut spec = f.spec("cat /proc/self/status; id");
        spec.process.uid = 1000;
        spec.process.gid = 1000;
        spec.process.additional_gids = vec![100];
        spec.process.cwd = "/home/app/work".into();
        let out = ok(&sb, &spec);
        assert_eq!(status_field(&out, "CapEff"), "0000000000000000");
        assert_eq!(status_field(&out, "CapBnd"), "00000000a80425fb");
        assert_eq!(status_field(&out, "NoNewPrivs"), "1");
        assert!(
            out.contains("uid=1000(app) gid=1000(app) groups=100"),
            "{out}"
        );
    }

    fn tree(root: &Path) -> Vec<(String, u64, u32, i64)> {
        let mut paths = Vec::new();
        walk(root, root, &mut paths);
        paths.sort();
        paths
            .into_iter()
            .map(|p| {
                let m = std::fs::symlink_metadata(root.join(&p)).unwrap();
                (p, m.len(), m.mode(), m.mtime())
            })
            .collect()
    }

    pub fn writes_land_in_upper_only(rt: Runtime) {
        let f = Fixture::new();
        let before = tree(&f.lower);
        ok(
            &f.sandbox(rt),
            &f.spec(
                "echo data > /root/new && rm /etc/group && mkdir -p /opt/x && echo hi > /tmp/t",
            ),
        );
        assert_eq!(tree(&f.lower), before, "the lower dir is untouched");
        let upper = f.upper_entries();
        assert_eq!(
            upper,
            [
                "etc",
                "etc/group",
                "opt",
                "opt/x",
                "root",
                "root/new",
                "tmp",
                "tmp/t"
            ]
        );
        let wh = std::fs::symlink_metadata(f.upper.join("etc/group")).unwrap();
        assert!(
            wh.file_type().is_char_device() && wh.rdev() == 0,
            "a whiteout"
        );
        assert_eq!(
            std::fs::read_to_string(f.upper.join("root/new")).unwrap(),
            "data\n"
        );
    }

    pub fn exit_codes_propagate(rt: Runtime) {
        let f = Fixture::new();
        let sb = f.sandbox(rt);
        let (st, _, _) = run(&sb, &f.spec("exit 42")).unwrap();
        assert_eq!(st, ExitStatus::Code(42));
        // PID 1 of a namespace ignores signals from inside it, so a child dies.
        let (st, _, _) = run(&sb, &f.spec("sh -c 'kill -9 $$'; exit $?")).unwrap();
        assert_eq!(st.code(), 137, "{st}");
        // A program that cannot be executed is an error, not an exit code.
        let mut spec = f.spec("");
        spec.process.args = vec!["/no/such/program".into()];
        assert!(run(&sb, &spec).is_err());
        f.assert_state_clean();
    }

    pub fn stdout_and_stderr_are_captured(rt: Runtime) {
        let f = Fixture::new();
        let ordered = rt == Runtime::Embedded;
        let sb = f.sandbox(rt);
        let (st, out, err) = run(&sb, &f.spec("echo out1; echo err1 >&2; echo out2")).unwrap();
        assert!(st.success());
        assert_eq!(out, "out1\nout2\n");
        assert_eq!(err, "err1\n");
        let mut all = Vec::new();
        let st = sb
            .run(
                &f.spec("echo a; echo b >&2; echo c"),
                StepIo::combined(&mut all),
            )
            .unwrap();
        assert!(st.success());
        // One pipe keeps the order; runc copies the streams separately.
        let all = String::from_utf8(all).unwrap();
        if ordered {
            assert_eq!(all, "a\nb\nc\n");
        } else {
            let mut lines: Vec<&str> = all.lines().collect();
            lines.sort();
            assert_eq!(lines, ["a", "b", "c"]);
        }
        // More than a pipe's buffer, on both streams at once.
        let (_, out, err) = run(&sb, &f.spec("seq 1 100000; seq 1 100000 >&2")).unwrap();
        assert_eq!(out.lines().count(), 100000);
        assert_eq!(err.lines().count(), 100000);
    }

    pub fn network_none_has_only_loopback(rt: Runtime) {
        let f = Fixture::new();
        let sb = f.sandbox(rt);
        let out = ok(&sb, &f.spec("ls /sys/class/net; ip -o link"));
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("lo"));
        let links: Vec<&str> = lines.collect();
        assert_eq!(links.len(), 1, "{out}");
        assert!(links[0].contains("lo:") && links[0].contains("UP"), "{out}");
        // Host network: the host's interfaces.
        let mut spec = f.spec("ls /sys/class/net");
        spec.network = NetworkMode::Host;
        let out = ok(&sb, &spec);
        let mut host: Vec<String> = std::fs::read_dir("/sys/class/net")
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        host.sort();
        assert_eq!(out.lines().collect::<Vec<_>>(), host);
    }

    pub fn hosts_and_resolv_conf_are_given_and_not_committed(rt: Runtime) {
        let f = Fixture::new();
        let sb = f.sandbox(rt);
        let mut spec = f.spec("cat /etc/hosts; echo --; cat /etc/resolv.conf; echo --; hostname");
        spec.hosts = "127.0.0.1 localhost\n10.0.0.2 db\n".into();
        spec.resolv_conf = "nameserver 192.0.2.1\nsearch example\n".into();
        spec.hostname = "stepbox".into();
        let out = ok(&sb, &spec);
        assert_eq!(
            out,
            format!("{}--\n{}--\nstepbox\n", spec.hosts, spec.resolv_conf)
        );
        // Neither file, nor /etc copied up for their sake, is in the upper dir.
        assert_eq!(f.upper_entries(), Vec::<String>::new());
        // When the step writes to /etc, /etc stays, the stubs do not.
        let out = ok(
            &sb,
            &f.spec("echo x > /etc/new; echo y > /etc/hosts 2>/dev/null || echo read-only"),
        );
        assert_eq!(out, "read-only\n");
        assert_eq!(f.upper_entries(), ["etc", "etc/new"]);
        // A rootfs that has the files: nothing in the upper dir either.
        let f = Fixture::new();
        std::fs::write(f.lower.join("etc/hosts"), "image hosts\n").unwrap();
        std::fs::write(f.lower.join("etc/resolv.conf"), "image resolv\n").unwrap();
        let out = ok(
            &f.sandbox(f.sandbox(Runtime::Embedded).runtime().clone()),
            &f.spec("cat /etc/hosts"),
        );
        assert_eq!(out, "127.0.0.1\tlocalhost\n");
        assert_eq!(f.upper_entries(), Vec::<String>::new());
    }

    pub fn proc_and_sys_are_restricted(rt: Runtime) {
        let f = Fixture::new();
        let script = "cat /proc/keys | wc -c; ls /proc/acpi | wc -l; \
                      echo 1 > /proc/sysrq-trigger 2>/dev/null && echo writable || echo ro; \
                      touch /sys/kernel/x 2>/dev/null && echo writable || echo ro; \
                      ls /sys/firmware | wc -l; test -c /dev/null && test -c /dev/urandom && echo devs; \
                      mknod /tmp/disk b 254 0 && (head -c1 /tmp/disk >/dev/null 2>&1 && echo opened || echo refused); \
                      ls /dev | tr '\\n' ' '";
        let out = ok(&f.sandbox(rt), &f.spec(script));
        let lines: Vec<&str> = out.lines().map(str::trim).collect();
        // A device node can be made (it may be image content) but not opened.
        assert_eq!(
            lines[..7],
            ["0", "0", "ro", "ro", "0", "devs", "refused"],
            "{out}"
        );
        for d in [
            "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "fd",
            "stdin", "stdout", "stderr", "ptmx",
        ] {
            assert!(lines[7].split(' ').any(|e| e == d), "/dev/{d} in {out}");
        }
    }

    pub fn extra_mounts(rt: Runtime) {
        let f = Fixture::new();
        let ro = f.tmp.path().join("ro");
        let cache = f.tmp.path().join("cache");
        std::fs::create_dir_all(&ro).unwrap();
        std::fs::create_dir_all(&cache).unwrap();
        std::fs::write(ro.join("file"), "from host\n").unwrap();
        let mut spec = f.spec(
            "cat /src/file; touch /src/x 2>/dev/null && echo rw || echo ro; \
             echo cached > /root/.cache/go/c; echo t > /scratch/t; echo done",
        );
        spec.mounts = vec![
            Mount {
                destination: "/src".into(),
                kind: MountKind::Bind {
                    source: ro.clone(),
                    readonly: true,
                },
            },
            Mount {
                destination: "/root/.cache/go".into(),
                kind: MountKind::Bind {
                    source: cache.clone(),
                    readonly: false,
                },
            },
            Mount {
                destination: "/scratch".into(),
                kind: MountKind::Tmpfs {
                    size: Some(1 << 20),
                },
            },
        ];
        let out = ok(&f.sandbox(rt), &spec);
        assert_eq!(out, "from host\nro\ndone\n");
        assert_eq!(
            std::fs::read_to_string(cache.join("c")).unwrap(),
            "cached\n"
        );
        // Mount points the sandbox created are gone; /root (in the lower) too.
        assert_eq!(f.upper_entries(), Vec::<String>::new());
        f.assert_state_clean();
    }

    pub fn nothing_is_left_after_a_killed_step(rt: Runtime) {
        let f = Fixture::new();
        let sb = f.sandbox(rt);
        let marker = format!("{}.5", 1000 + std::process::id() % 1000);
        let spec = f.spec(&format!("sleep {marker} & sleep {marker}"));
        let cancel = CancelToken::new();
        let started = Instant::now();
        let r = std::thread::scope(|s| {
            let h = s.spawn(|| sb.run_cancellable(&spec, StepIo::null(), &cancel));
            std::thread::sleep(Duration::from_millis(500));
            cancel.cancel();
            h.join().unwrap()
        });
        assert!(matches!(r, Err(SandboxError::Cancelled)), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(20));
        f.assert_state_clean();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&cmd).contains(&marker),
                "a step process survived"
            );
        }
        // Cancelled before the start: nothing runs.
        assert!(matches!(
            sb.run_cancellable(&spec, StepIo::null(), &cancel),
            Err(SandboxError::Cancelled)
        ));
        f.assert_state_clean();
    }
}

/// Steps of several builds at once (the solver runs stages in parallel).
pub fn parallel_steps(rt: strata_builder::sandbox::Runtime) {
    let fixtures: Vec<Fixture> = (0..4).map(|_| Fixture::new()).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = fixtures
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let sb = f.sandbox(rt.clone());
                s.spawn(move || {
                    let spec = f.spec(&format!(
                        "echo {i} > /root/id; cat /root/id; ps -o comm; exit 0"
                    ));
                    run(&sb, &spec).expect("the step runs")
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            let (st, out, err) = h.join().unwrap();
            assert!(st.success(), "{err}");
            let lines: Vec<&str> = out.lines().map(str::trim).collect();
            // Its own number, and its own processes only.
            assert_eq!(
                lines,
                [i.to_string().as_str(), "COMMAND", "sh", "ps"],
                "{out}"
            );
        }
    });
    for (i, f) in fixtures.iter().enumerate() {
        let id = std::fs::read_to_string(f.upper.join("root/id")).unwrap();
        assert_eq!(id, format!("{i}\n"));
        f.assert_state_clean();
    }
}

/// A rootfs without /proc, /dev, /sys and /etc (FROM scratch plus a static
/// binary): the mount points made for the step do not reach the upper dir.
pub fn bare_rootfs_leaves_no_mount_points(rt: strata_builder::sandbox::Runtime) {
    let f = Fixture::new();
    for d in ["proc", "dev", "sys", "etc"] {
        std::fs::remove_dir_all(f.lower.join(d)).unwrap();
    }
    let mut spec =
        f.spec("ls /proc/self/status /dev/null /sys/kernel >/dev/null && cat /etc/hosts");
    spec.process.cwd = "/".into();
    let (st, out, err) = run(&f.sandbox(rt), &spec).expect("the step runs");
    assert!(st.success(), "{err}");
    assert_eq!(out, spec.hosts);
    assert_eq!(f.upper_entries(), Vec::<String>::new());
    f.assert_state_clean();
}
