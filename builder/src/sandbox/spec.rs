//! The OCI runtime config of a step: a [`RunSpec`] with docker's defaults.
//!
//! Every run, embedded or external, executes the [`Spec`] built here. The
//! overlay rootfs is not part of it, as with containerd: the runtime gets it
//! as a [`RootfsMount`] beside the config.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxDeviceBuilder, LinuxDeviceCgroup,
    LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxResourcesBuilder, Mount as OciMount, MountBuilder, ProcessBuilder, RootBuilder, Spec,
    SpecBuilder, UserBuilder,
};

use super::rundir::RunDir;
use super::{MountKind, NetworkMode, Result, RunSpec, SandboxError};

/// Docker's default capability set (moby `caps.DefaultCapabilities`), in
/// `/proc/self/status` as `CapBnd: 00000000a80425fb`.
pub const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Docker's masked paths: a directory gets an empty read-only tmpfs, a file `/dev/null`.
pub const MASKED_PATHS: [&str; 10] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];

/// Docker's read-only paths: bind-mounted onto themselves read-only.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The character devices of docker's minimal `/dev`: name, major, minor.
pub const DEVICES: [(&str, i64, i64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// The step's root file system: an overlay of `lowers` (bottom first) and
/// `upper`, mounted at `target` (the config's `root.path`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootfsMount {
    /// Lower dirs, bottom first; never empty (an empty dir stands in for FROM scratch).
    pub lowers: Vec<PathBuf>,
    /// The upper dir.
    pub upper: PathBuf,
    /// The work dir.
    pub work: PathBuf,
    /// The mount point.
    pub target: PathBuf,
    /// Mount with `volatile` (Linux 5.10+): no sync of the upper dir when
    /// the overlay goes away. The upper dir is a step's scratch space that
    /// the caller reads back from the page cache right after the run, and
    /// the sync was most of a short step's wall time. The kernel then marks
    /// the work dir (`work/incompat/volatile`); the sandbox removes the mark
    /// after the run so the work dir can be mounted again.
    pub volatile: bool,
}

impl RootfsMount {
    pub(crate) fn from_run_spec(spec: &RunSpec, dir: &RunDir) -> RootfsMount {
        let lowers = if spec.lowers.is_empty() {
            vec![dir.empty.clone()]
        } else {
            spec.lowers.clone()
        };
        RootfsMount {
            lowers,
            upper: spec.upper.clone(),
            work: spec.work.clone(),
            target: dir.rootfs.clone(),
            volatile: kernel_at_least(5, 10),
        }
    }

    /// Removes the work dir's `volatile` mark (see [`RootfsMount::volatile`]).
    pub(crate) fn clear_volatile_mark(&self) {
        if self.volatile {
            let _ = std::fs::remove_dir_all(self.work.join("work").join("incompat"));
        }
    }

    /// The overlay mount data. overlayfs takes the top lower dir first.
    /// `index`, `redirect_dir` and `metacopy` are off so that the upper dir
    /// holds plain files, whiteouts and opaque dirs only — what a layer
    /// differ understands — and so lower dirs can be shared between mounts.
    pub fn options(&self, lowers: &[String]) -> String {
        let mut lower = String::new();
        for (i, l) in lowers.iter().rev().enumerate() {
            if i > 0 {
                lower.push(':');
            }
            lower.push_str(l);
        }
        format!(
            "lowerdir={lower},upperdir={},workdir={},index=off,redirect_dir=off,metacopy=off{}",
            self.upper.display(),
            self.work.display(),
            if self.volatile { ",volatile" } else { "" }
        )
    }
}

/// Whether the running kernel's version is at least `major.minor`.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let uname = rustix::system::uname();
    let release = uname.release().to_string_lossy();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let have = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    have >= (major, minor)
}

/// Builds the OCI runtime config of `run`, with its rootfs at `rootfs` and
/// the hosts and resolv.conf files to bind-mount.
pub fn build(run: &RunSpec, rootfs: &Path, hosts: &Path, resolv_conf: &Path) -> Result<Spec> {
    let oci = |e: oci_spec::OciSpecError| SandboxError::InvalidSpec(e.to_string());
    let caps: oci_spec::runtime::Capabilities = DEFAULT_CAPABILITIES.into_iter().collect();
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .inheritable(oci_spec::runtime::Capabilities::new())
        .ambient(oci_spec::runtime::Capabilities::new())
        .build()
        .map_err(oci)?;
    let user = UserBuilder::default()
        .uid(run.process.uid)
        .gid(run.process.gid)
        .additional_gids(run.process.additional_gids.clone())
        .umask(0o022u32)
        .build()
        .map_err(oci)?;
    let mut process = ProcessBuilder::default()
        .terminal(false)
        .user(user)
        .args(run.process.args.clone())
        .env(run.process.env.clone())
        .cwd(clean_path(&run.process.cwd))
        .capabilities(capabilities)
        .no_new_privileges(true)
        .build()
        .map_err(oci)?;
    // oci-spec's default sets RLIMIT_NOFILE 1024; BuildKit leaves the limits
    // as the runtime has them, and so does strata.
    process.set_rlimits(if run.limits.ulimits.is_empty() {
        None
    } else {
        Some(rlimits(&run.limits.ulimits)?)
    });

    let mut namespaces = vec![
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
    ];
    if run.network.isolated() {
        namespaces.push(LinuxNamespaceType::Network);
    }
    let join = match &run.network {
        NetworkMode::Join(path) => Some(path.clone()),
        _ => None,
    };
    let namespaces = namespaces
        .into_iter()
        .map(|t| {
            let mut b = LinuxNamespaceBuilder::default().typ(t);
            if let (LinuxNamespaceType::Network, Some(p)) = (t, &join) {
                b = b.path(p.clone());
            }
            b.build()
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(oci)?;
    let devices = DEVICES
        .iter()
        .map(|&(name, major, minor)| {
            LinuxDeviceBuilder::default()
                .path(format!("/dev/{name}"))
                .typ(LinuxDeviceType::C)
                .major(major)
                .minor(minor)
                .file_mode(0o666u32)
                .uid(0u32)
                .gid(0u32)
                .build()
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(oci)?;
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .devices(devices)
        .masked_paths(MASKED_PATHS.map(String::from).to_vec())
        .readonly_paths(READONLY_PATHS.map(String::from).to_vec())
        .build()
        .map_err(oci)?;
    // No cgroup limits, only docker's device rules: deny by default, allow
    // creating nodes and using the devices of the minimal /dev.
    linux.set_resources(Some(
        LinuxResourcesBuilder::default()
            .devices(device_rules().map_err(oci)?)
            .build()
            .map_err(oci)?,
    ));

    SpecBuilder::default()
        .version("1.0.2")
        .root(
            RootBuilder::default()
                .path(rootfs)
                .readonly(false)
                .build()
                .map_err(oci)?,
        )
        .hostname(run.hostname.clone())
        .process(process)
        .mounts(mounts(run, hosts, resolv_conf)?)
        .linux(linux)
        .build()
        .map_err(oci)
}

fn device_rules() -> std::result::Result<Vec<LinuxDeviceCgroup>, oci_spec::OciSpecError> {
    let rule = |allow: bool,
                typ: Option<LinuxDeviceType>,
                major: Option<i64>,
                minor: Option<i64>,
                access: &str| {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .access(access);
        if let Some(t) = typ {
            b = b.typ(t);
        }
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build()
    };
    let c = Some(LinuxDeviceType::C);
    let mut rules = vec![
        rule(false, None, None, None, "rwm")?,
        rule(true, c, None, None, "m")?,
        rule(true, Some(LinuxDeviceType::B), None, None, "m")?,
    ];
    for &(_, major, minor) in &DEVICES {
        rules.push(rule(true, c, Some(major), Some(minor), "rwm")?);
    }
    // /dev/ptmx and the pseudo-terminals of /dev/pts.
    rules.push(rule(true, c, Some(5), Some(2), "rwm")?);
    rules.push(rule(true, c, Some(136), None, "rwm")?);
    Ok(rules)
}

/// Docker's standard mounts, then hosts and resolv.conf, then the step's own.
fn mounts(run: &RunSpec, hosts: &Path, resolv_conf: &Path) -> Result<Vec<OciMount>> {
    let m = |dest: &str, typ: &str, source: &Path, options: &[&str]| {
        MountBuilder::default()
            .destination(dest)
            .typ(typ)
            .source(source)
            .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .build()
            .map_err(|e| SandboxError::InvalidSpec(e.to_string()))
    };
    let p = Path::new;
    let mut out = vec![
        m("/proc", "proc", p("proc"), &["nosuid", "noexec", "nodev"])?,
        m(
            "/dev",
            "tmpfs",
            p("tmpfs"),
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        m(
            "/dev/pts",
            "devpts",
            p("devpts"),
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        m(
            "/dev/shm",
            "tmpfs",
            p("shm"),
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        )?,
        m(
            "/dev/mqueue",
            "mqueue",
            p("mqueue"),
            &["nosuid", "noexec", "nodev"],
        )?,
        m(
            "/sys",
            "sysfs",
            p("sysfs"),
            &["nosuid", "noexec", "nodev", "ro"],
        )?,
        m("/etc/resolv.conf", "bind", resolv_conf, &["rbind", "ro"])?,
        m("/etc/hosts", "bind", hosts, &["rbind", "ro"])?,
    ];
    for mount in &run.mounts {
        let dest = clean_path(&mount.destination);
        out.push(match &mount.kind {
            MountKind::Bind { source, readonly } => {
                let opts: &[&str] = if *readonly {
                    &["rbind", "ro"]
                } else {
                    &["rbind", "rw"]
                };
                m(&dest, "bind", source, opts)?
            }
            MountKind::Tmpfs { size } => {
                let size = size.map(|s| format!("size={s}"));
                let mut opts = vec!["nosuid", "nodev", "mode=1777"];
                opts.extend(size.as_deref());
                m(&dest, "tmpfs", p("tmpfs"), &opts)?
            }
        });
    }
    Ok(out)
}

/// Lexically cleans an absolute container path (`//a/./b/../c/` → `/a/c`);
/// `..` never climbs above `/`.
pub fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The capability's number (`CAP_CHOWN` = 0, ...), for capset and prctl.
pub fn capability_number(cap: Capability) -> Option<u32> {
    // oci-spec displays capabilities without the CAP_ prefix.
    const NAMES: [&str; 41] = [
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    let name = cap.to_string();
    let name = name.strip_prefix("CAP_").unwrap_or(&name);
    NAMES.iter().position(|n| *n == name).map(|i| i as u32)
}

/// The bit mask of a capability set.
pub fn capability_mask(caps: Option<&oci_spec::runtime::Capabilities>) -> Result<u64> {
    let mut mask = 0u64;
    for &cap in caps.into_iter().flatten() {
        let n = capability_number(cap)
            .ok_or_else(|| SandboxError::Unsupported(format!("capability {cap}")))?;
        mask |= 1 << n;
    }
    Ok(mask)
}

/// The OCI rlimit type of docker's `--ulimit` name.
pub fn rlimit_type(name: &str) -> Option<oci_spec::runtime::PosixRlimitType> {
    use oci_spec::runtime::PosixRlimitType as T;
    Some(match name {
        "core" => T::RlimitCore,
        "cpu" => T::RlimitCpu,
        "data" => T::RlimitData,
        "fsize" => T::RlimitFsize,
        "locks" => T::RlimitLocks,
        "memlock" => T::RlimitMemlock,
        "msgqueue" => T::RlimitMsgqueue,
        "nice" => T::RlimitNice,
        "nofile" => T::RlimitNofile,
        "nproc" => T::RlimitNproc,
        "rss" => T::RlimitRss,
        "rtprio" => T::RlimitRtprio,
        "rttime" => T::RlimitRttime,
        "sigpending" => T::RlimitSigpending,
        "stack" => T::RlimitStack,
        "as" => T::RlimitAs,
        _ => return None,
    })
}

fn rlimits(ulimits: &[super::Ulimit]) -> Result<Vec<oci_spec::runtime::PosixRlimit>> {
    let value = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
    ulimits
        .iter()
        .map(|u| {
            let typ = rlimit_type(&u.name).ok_or_else(|| {
                SandboxError::InvalidSpec(format!("invalid ulimit type: {}", u.name))
            })?;
            oci_spec::runtime::PosixRlimitBuilder::default()
                .typ(typ)
                .soft(value(u.soft))
                .hard(value(u.hard))
                .build()
                .map_err(|e| SandboxError::InvalidSpec(e.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_capabilities_are_dockers_mask() {
        let caps: oci_spec::runtime::Capabilities = DEFAULT_CAPABILITIES.into_iter().collect();
        assert_eq!(capability_mask(Some(&caps)).unwrap(), 0xa80425fb);
    }

    #[test]
    fn clean_paths() {
        assert_eq!(clean_path("//a/./b/../c/"), "/a/c");
        assert_eq!(clean_path("/../.."), "/");
        assert_eq!(clean_path("/etc/hosts"), "/etc/hosts");
    }
}
