//! The setup sequence of the embedded runtime, checked call by call
//! against the recording double (no privileges needed).

use std::path::{Path, PathBuf};

use super::child::{self, Failure};
use super::plan::{self, clone, ms, Plan};
use super::spec::{self, RootfsMount};
use super::syscalls::{Call, FileKind, Recording};
use super::*;

const DOCKER_CAPS: u64 = 0xa80425fb;

fn run_spec() -> RunSpec {
    RunSpec {
        lowers: vec![PathBuf::from("/snap/1"), PathBuf::from("/snap/2")],
        upper: PathBuf::from("/step/upper"),
        work: PathBuf::from("/step/work"),
        process: Process {
            args: vec!["sh".into(), "-c".into(), "true".into()],
            env: vec!["PATH=/usr/bin:/bin".into(), "HOME=/root".into()],
            cwd: "/src".into(),
            uid: 0,
            gid: 0,
            additional_gids: vec![],
        },
        network: NetworkMode::None,
        mounts: vec![],
        hostname: "buildkitsandbox".into(),
        hosts: String::new(),
        resolv_conf: String::new(),
        limits: Default::default(),
    }
}

fn plan_of(run: &RunSpec) -> Plan {
    let config = spec::build(
        run,
        Path::new("/run/x/rootfs"),
        Path::new("/run/x/hosts"),
        Path::new("/run/x/resolv.conf"),
    )
    .unwrap();
    let rootfs = RootfsMount {
        lowers: run.lowers.clone(),
        upper: run.upper.clone(),
        work: run.work.clone(),
        target: PathBuf::from("/run/x/rootfs"),
        volatile: false,
    };
    let lowers: Vec<String> = run.lowers.iter().map(|l| l.display().to_string()).collect();
    // Bind sources ending in "dir" are directories, the rest files.
    let kind = |p: &Path| {
        if p.to_string_lossy().ends_with("dir") {
            FileKind::Dir
        } else {
            FileKind::File
        }
    };
    plan::build(&config, &rootfs, &lowers, None, &kind, 40).unwrap()
}

/// A rootfs like the busybox one: these exist, /etc/hosts and /src do not.
fn busybox() -> Recording {
    let mut r = Recording::with_dirs([
        "/",
        "/bin",
        "/dev",
        "/etc",
        "/proc",
        "/sys",
        "/tmp",
        "/proc/sys",
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/acpi",
        "/sys/firmware",
    ]);
    r.files.extend(
        [
            "/bin/sh",
            "/proc/kcore",
            "/proc/sysrq-trigger",
            "/proc/keys",
        ]
        .map(String::from),
    );
    r
}

fn applied(run: &RunSpec) -> Vec<Call> {
    let plan = plan_of(run);
    let mut sys = busybox();
    child::apply(&plan, &mut sys).expect("the double's exec succeeds");
    sys.calls
}

fn mount(
    source: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: u64,
    data: Option<&str>,
) -> Call {
    Call::Mount {
        source: source.map(String::from),
        target: target.into(),
        fstype: fstype.map(String::from),
        flags,
        data: data.map(String::from),
    }
}

/// The calls between the first one equal to `from` and the first one
/// equal to `to` after it, both included.
fn slice<'a>(calls: &'a [Call], from: &Call, to: &Call) -> &'a [Call] {
    let a = calls
        .iter()
        .position(|c| c == from)
        .unwrap_or_else(|| panic!("no {from:?} in {calls:#?}"));
    let b = a + calls[a..]
        .iter()
        .position(|c| c == to)
        .unwrap_or_else(|| panic!("no {to:?} after {from:?}"));
    &calls[a..=b]
}

#[test]
fn namespaces_follow_the_network_mode() {
    let base = clone::NEWNS | clone::NEWPID | clone::NEWIPC | clone::NEWUTS;
    let mut run = run_spec();
    assert_eq!(plan_of(&run).clone_flags, base | clone::NEWNET);
    run.network = NetworkMode::Default;
    assert_eq!(plan_of(&run).clone_flags, base | clone::NEWNET);
    run.network = NetworkMode::Host;
    assert_eq!(plan_of(&run).clone_flags, base);
    assert!(!applied(&run).contains(&Call::LoopbackUp));
}

#[test]
fn rootfs_is_an_overlay_then_pivoted_into_with_host_trees_opened_before() {
    let calls = applied(&run_spec());
    assert_eq!(
        calls[0],
        mount(None, "/", None, ms::REC | ms::PRIVATE, None)
    );
    assert_eq!(
        calls[1],
        mount(
            Some("overlay"),
            "/run/x/rootfs",
            Some("overlay"),
            ms::NODEV,
            Some("lowerdir=/snap/2:/snap/1,upperdir=/step/upper,workdir=/step/work,index=off,redirect_dir=off,metacopy=off"),
        )
    );
    let opened: Vec<&Call> = calls
        .iter()
        .take_while(|c| !matches!(c, Call::Chdir(_)))
        .skip(2)
        .collect();
    let expect = [
        ("/run/x/resolv.conf", true),
        ("/run/x/hosts", true),
        ("/dev/null", false),
        ("/dev/zero", false),
        ("/dev/full", false),
        ("/dev/random", false),
        ("/dev/urandom", false),
        ("/dev/tty", false),
    ];
    assert_eq!(opened.len(), expect.len(), "{opened:#?}");
    for (i, (c, (path, recursive))) in opened.iter().zip(expect).enumerate() {
        assert_eq!(
            **c,
            Call::OpenTree {
                slot: i,
                path: path.into(),
                recursive
            }
        );
    }
    let pivot = slice(
        &calls,
        &Call::Chdir("/run/x/rootfs".into()),
        &Call::Chdir("/".into()),
    );
    assert_eq!(
        pivot,
        [
            Call::Chdir("/run/x/rootfs".into()),
            Call::PivotRoot {
                new_root: ".".into(),
                put_old: ".".into()
            },
            Call::Umount {
                target: ".".into(),
                detach: true
            },
            Call::Chdir("/".into()),
        ]
    );
}

#[test]
fn standard_mounts_are_dockers() {
    let calls = applied(&run_spec());
    let mounts: Vec<&Call> = calls
        .iter()
        .filter(|c| matches!(c, Call::Mount { fstype: Some(t), .. } if t != "overlay"))
        .collect();
    let nse = ms::NOSUID | ms::NOEXEC | ms::NODEV;
    let expect = [
        mount(Some("proc"), "/proc", Some("proc"), nse, None),
        mount(
            Some("tmpfs"),
            "/dev",
            Some("tmpfs"),
            ms::NOSUID | ms::STRICTATIME | ms::NODEV,
            Some("mode=755,size=65536k"),
        ),
        mount(
            Some("devpts"),
            "/dev/pts",
            Some("devpts"),
            ms::NOSUID | ms::NOEXEC,
            Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
        ),
        mount(
            Some("shm"),
            "/dev/shm",
            Some("tmpfs"),
            nse,
            Some("mode=1777,size=65536k"),
        ),
        mount(Some("mqueue"), "/dev/mqueue", Some("mqueue"), nse, None),
        mount(Some("sysfs"), "/sys", Some("sysfs"), nse | ms::RDONLY, None),
        // Masked directories get a read-only tmpfs.
        mount(Some("tmpfs"), "/proc/acpi", Some("tmpfs"), ms::RDONLY, None),
        mount(
            Some("tmpfs"),
            "/sys/firmware",
            Some("tmpfs"),
            ms::RDONLY,
            None,
        ),
    ];
    assert_eq!(mounts, expect.iter().collect::<Vec<_>>());
    // Masked files get /dev/null; missing masked paths are skipped.
    for f in ["/proc/kcore", "/proc/keys"] {
        assert!(
            calls.contains(&mount(Some("/dev/null"), f, None, ms::BIND, None)),
            "{f}"
        );
    }
    assert!(!calls
        .iter()
        .any(|c| matches!(c, Call::Mount { target, .. } if target == "/proc/scsi")));
    // Read-only paths: a bind onto itself, then a read-only remount.
    for p in [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ] {
        let bind = mount(Some(p), p, None, ms::BIND | ms::REC, None);
        let ro = mount(
            None,
            p,
            None,
            ms::BIND | ms::REMOUNT | ms::RDONLY | nse,
            None,
        );
        assert_eq!(slice(&calls, &bind, &ro).len(), 2, "{p}");
    }
}

#[test]
fn dev_gets_host_devices_and_runc_symlinks() {
    let calls = applied(&run_spec());
    for (i, dev) in ["null", "zero", "full", "random", "urandom", "tty"]
        .iter()
        .enumerate()
    {
        let path = format!("/dev/{dev}");
        // Created in the /dev tmpfs, so not reported as a stub of the rootfs.
        let created = Call::CreateFile(path.clone(), 0o755);
        let moved = Call::MoveMount {
            slot: i + 2,
            target: path.clone(),
        };
        assert_eq!(slice(&calls, &created, &moved).len(), 2, "{path}");
        assert!(!calls.contains(&Call::ReportCreated(path)));
    }
    for (target, link) in [
        ("/proc/self/fd", "/dev/fd"),
        ("/proc/self/fd/0", "/dev/stdin"),
        ("/proc/self/fd/1", "/dev/stdout"),
        ("/proc/self/fd/2", "/dev/stderr"),
        ("pts/ptmx", "/dev/ptmx"),
    ] {
        assert!(calls.contains(&Call::Symlink {
            target: target.into(),
            link: link.into()
        }));
    }
}

#[test]
fn hosts_and_resolv_conf_stubs_are_created_reported_and_bound_read_only() {
    let calls = applied(&run_spec());
    // /etc exists, /etc/hosts does not: an empty file is made, reported, and
    // /etc's times are put back before the bind.
    let seq = slice(
        &calls,
        &Call::Stat("/etc/hosts".into()),
        &Call::MoveMount {
            slot: 1,
            target: "/etc/hosts".into(),
        },
    );
    assert_eq!(
        seq,
        [
            Call::Stat("/etc/hosts".into()),
            Call::Stat("/etc".into()),
            Call::CreateFile("/etc/hosts".into(), 0o755),
            Call::ReportCreated("/etc/hosts".into()),
            Call::SetTimes("/etc".into()),
            Call::MoveMount {
                slot: 1,
                target: "/etc/hosts".into()
            },
        ]
    );
    let ro = mount(
        None,
        "/etc/hosts",
        None,
        ms::BIND | ms::REMOUNT | ms::RDONLY | ms::NODEV,
        None,
    );
    assert!(calls.contains(&ro));
    let reported: Vec<&Call> = calls
        .iter()
        .filter(|c| matches!(c, Call::ReportCreated(_)))
        .collect();
    assert_eq!(
        reported,
        [
            &Call::ReportCreated("/etc/resolv.conf".into()),
            &Call::ReportCreated("/etc/hosts".into())
        ]
    );
}

#[test]
fn extra_mounts_in_order_with_missing_parents_reported() {
    let mut run = run_spec();
    run.mounts = vec![
        Mount {
            destination: "/root/.cache/go".into(),
            kind: MountKind::Bind {
                source: "/cache/godir".into(),
                readonly: false,
            },
        },
        Mount {
            destination: "/run/secrets/token".into(),
            kind: MountKind::Bind {
                source: "/secrets/token".into(),
                readonly: true,
            },
        },
        Mount {
            destination: "/tmp/scratch/".into(),
            kind: MountKind::Tmpfs {
                size: Some(1 << 20),
            },
        },
    ];
    let calls = applied(&run);
    let reported: Vec<String> = calls
        .iter()
        .filter_map(|c| match c {
            Call::ReportCreated(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        reported,
        [
            "/etc/resolv.conf",
            "/etc/hosts",
            "/root",
            "/root/.cache",
            "/root/.cache/go",
            "/run",
            "/run/secrets",
            "/run/secrets/token",
            "/tmp/scratch"
        ]
    );
    assert!(
        calls.contains(&Call::Mkdir("/root/.cache/go".into(), 0o755)),
        "a directory source gets a directory"
    );
    assert!(calls.contains(&Call::CreateFile("/run/secrets/token".into(), 0o755)));
    // The cache mount is read-write, and nodev like every mount.
    assert!(calls.contains(&Call::OpenTree {
        slot: 2,
        path: "/cache/godir".into(),
        recursive: true
    }));
    let rw = mount(
        None,
        "/root/.cache/go",
        None,
        ms::BIND | ms::REMOUNT | ms::NODEV,
        None,
    );
    assert!(calls.contains(&rw));
    let ro = mount(
        None,
        "/run/secrets/token",
        None,
        ms::BIND | ms::REMOUNT | ms::RDONLY | ms::NODEV,
        None,
    );
    assert!(calls.contains(&ro));
    let tmpfs = mount(
        Some("tmpfs"),
        "/tmp/scratch",
        Some("tmpfs"),
        ms::NOSUID | ms::NODEV,
        Some("mode=1777,size=1048576"),
    );
    assert!(calls.contains(&tmpfs));
}

#[test]
fn credentials_and_capabilities_in_runcs_order() {
    let mut run = run_spec();
    run.process.uid = 1000;
    run.process.gid = 1000;
    run.process.additional_gids = vec![10, 20];
    let calls = applied(&run);
    let start = calls
        .iter()
        .position(|c| *c == Call::SetKeepCaps(true))
        .unwrap();
    let dropped: Vec<u32> = calls[start..]
        .iter()
        .filter_map(|c| match c {
            Call::DropBoundingCap(n) => Some(*n),
            _ => None,
        })
        .collect();
    let expect: Vec<u32> = (0..=40).filter(|n| DOCKER_CAPS & (1 << n) == 0).collect();
    assert_eq!(dropped, expect);
    let tail: Vec<&Call> = calls[start..]
        .iter()
        .filter(|c| !matches!(c, Call::DropBoundingCap(_)))
        .collect();
    assert_eq!(
        tail,
        [
            &Call::SetKeepCaps(true),
            &Call::SetGroups(vec![10, 20]),
            &Call::SetGid(1000),
            &Call::SetUid(1000),
            &Call::SetKeepCaps(false),
            &Call::SetCapabilities {
                effective: DOCKER_CAPS,
                permitted: DOCKER_CAPS,
                inheritable: 0
            },
            &Call::ClearAmbient,
            &Call::SetNoNewPrivs,
            &Call::Exec("/usr/bin/sh".into()),
            &Call::Exec("/bin/sh".into()),
        ]
    );
}

#[test]
fn hostname_loopback_cwd_and_umask_before_credentials() {
    let calls = applied(&run_spec());
    let seq = slice(
        &calls,
        &Call::Sethostname("buildkitsandbox".into()),
        &Call::SetKeepCaps(true),
    );
    assert_eq!(
        seq,
        [
            Call::Sethostname("buildkitsandbox".into()),
            Call::LoopbackUp,
            Call::Stat("/src".into()),
            Call::Stat("/".into()),
            Call::Mkdir("/src".into(), 0o755),
            Call::Chdir("/src".into()),
            Call::Umask(0o022),
            Call::SetKeepCaps(true),
        ]
    );
}

#[test]
fn a_failing_call_stops_the_setup_and_names_its_step() {
    let run = run_spec();
    let plan = plan_of(&run);
    let mut sys = busybox();
    sys.fail = Some(mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        ms::NOSUID | ms::NOEXEC | ms::NODEV,
        None,
    ));
    let Failure { index, errno } = child::apply(&plan, &mut sys).unwrap_err();
    assert_eq!(errno, rustix::io::Errno::PERM);
    assert_eq!(plan.ops[index].describe(), "mount proc on /proc");
    assert_eq!(sys.calls.last(), sys.fail.as_ref());
    assert!(!sys.calls.iter().any(|c| matches!(c, Call::Exec(_))));
}

#[test]
fn exec_searches_path_like_execvp() {
    let run = run_spec();
    let plan = plan_of(&run);
    let mut sys = busybox();
    sys.files.remove("/bin/sh");
    let f = child::apply(&plan, &mut sys).unwrap_err();
    assert_eq!(f.errno, rustix::io::Errno::NOENT);
    assert!(matches!(&plan.ops[f.index], plan::Op::Exec { program, .. } if program == "sh"));
    let execs: Vec<&Call> = sys
        .calls
        .iter()
        .filter(|c| matches!(c, Call::Exec(_)))
        .collect();
    assert_eq!(
        execs,
        [
            &Call::Exec("/usr/bin/sh".into()),
            &Call::Exec("/bin/sh".into())
        ]
    );
}

#[test]
fn features_the_embedded_runtime_lacks_are_refused() {
    let run = run_spec();
    let mut config = spec::build(&run, Path::new("/r"), Path::new("/h"), Path::new("/c")).unwrap();
    let rootfs = RootfsMount {
        lowers: vec!["/l".into()],
        upper: "/u".into(),
        work: "/w".into(),
        target: "/r".into(),
        volatile: false,
    };
    let mut linux = config.linux().clone().unwrap();
    linux.set_seccomp(Some(Default::default()));
    config.set_linux(Some(linux));
    let kind = |_: &Path| FileKind::File;
    let err = plan::build(&config, &rootfs, &["/l".into()], None, &kind, 40).unwrap_err();
    assert!(matches!(err, SandboxError::Unsupported(_)), "{err}");
}

#[test]
fn long_lower_lists_use_the_short_names_given() {
    let mut run = run_spec();
    run.lowers = (0..100)
        .map(|i| PathBuf::from(format!("/var/lib/strata/snapshots/{i:064}/fs")))
        .collect();
    let config = spec::build(&run, Path::new("/r"), Path::new("/h"), Path::new("/c")).unwrap();
    let rootfs = RootfsMount {
        lowers: run.lowers.clone(),
        upper: "/u".into(),
        work: "/w".into(),
        target: "/r".into(),
        volatile: false,
    };
    let kind = |_: &Path| FileKind::File;
    let full: Vec<String> = run.lowers.iter().map(|l| l.display().to_string()).collect();
    assert!(plan::build(&config, &rootfs, &full, None, &kind, 40).is_err());
    let short: Vec<String> = (0..100).map(|i| format!("l/{i}")).collect();
    let plan = plan::build(
        &config,
        &rootfs,
        &short,
        Some(Path::new("/run/x")),
        &kind,
        40,
    )
    .unwrap();
    let mut sys = busybox();
    let _ = child::apply(&plan, &mut sys);
    assert_eq!(sys.calls[1], Call::Chdir("/run/x".into()));
    let Call::Mount {
        data: Some(data), ..
    } = &sys.calls[2]
    else {
        panic!()
    };
    assert!(data.starts_with("lowerdir=l/99:l/98:"), "{data}");
}

#[test]
fn the_config_is_an_oci_runtime_config_with_dockers_defaults() {
    let config = spec::build(
        &run_spec(),
        Path::new("/r"),
        Path::new("/h"),
        Path::new("/c"),
    )
    .unwrap();
    let json = serde_json::to_value(&config).unwrap();
    assert_eq!(json["process"]["noNewPrivileges"], true);
    assert_eq!(json["root"]["path"], "/r");
    assert_eq!(json["hostname"], "buildkitsandbox");
    let caps = json["process"]["capabilities"]["bounding"]
        .as_array()
        .unwrap();
    assert_eq!(caps.len(), 14);
    assert!(caps.contains(&"CAP_AUDIT_WRITE".into()));
    assert_eq!(json["linux"]["maskedPaths"].as_array().unwrap().len(), 10);
    assert_eq!(json["linux"]["readonlyPaths"].as_array().unwrap().len(), 5);
    let ns: Vec<&str> = json["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert_eq!(ns, ["pid", "ipc", "uts", "mount", "network"]);
    let rules = json["linux"]["resources"]["devices"].as_array().unwrap();
    assert_eq!(
        rules[0],
        serde_json::json!({"allow": false, "access": "rwm"})
    );
    assert_eq!(
        json["linux"]["resources"].as_object().unwrap().len(),
        1,
        "devices only"
    );
}

#[test]
fn volatile_overlays_say_so_in_the_mount_data() {
    let rootfs = RootfsMount {
        lowers: vec!["/a".into(), "/b".into()],
        upper: "/u".into(),
        work: "/w".into(),
        target: "/t".into(),
        volatile: true,
    };
    assert_eq!(
        rootfs.options(&["/a".into(), "/b".into()]),
        "lowerdir=/b:/a,upperdir=/u,workdir=/w,index=off,redirect_dir=off,metacopy=off,volatile"
    );
}
