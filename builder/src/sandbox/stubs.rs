//! Mount-point stubs: the empty files and directories created in the rootfs
//! only so that something could be mounted on them (`/etc/hosts` in an
//! image without one, a cache mount's target, ...). Like BuildKit's
//! `MountStubsCleaner`, they are removed from the upper dir after the run
//! when they are still empty, so they never reach the layer.
//!
//! Beyond BuildKit, a directory that was copied up only because a stub was
//! created in it (same metadata as in the lower dirs, empty, not opaque) is
//! removed from the upper dir too, so `/etc` does not show up in the layer
//! just because `/etc/hosts` was bound.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use std::os::fd::{AsRawFd, OwnedFd};

use super::syscalls::FileKind;
use super::{Result, SandboxError};

/// A path the sandbox created in the rootfs, relative to the rootfs root,
/// symlinks resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stub {
    /// Relative path, e.g. `etc/hosts`.
    pub path: PathBuf,
}

impl Stub {
    /// From an absolute path inside the container; `..` components are dropped.
    pub fn from_container_path(path: &[u8]) -> Stub {
        let p = Path::new(OsStr::from_bytes(path));
        Stub {
            path: p
                .components()
                .filter_map(|c| match c {
                    Component::Normal(n) => Some(n),
                    _ => None,
                })
                .collect(),
        }
    }
}

/// Creates the mount points (clean absolute container paths, with the kind
/// of file each needs) that do not exist in the rootfs mounted at `root`,
/// parents first, and returns what it created. As in the embedded runtime,
/// each parent's times are put back after an entry is created in it. Path
/// resolution stays inside `root` (`RESOLVE_IN_ROOT`), as a runtime's own does.
pub fn create(root: &Path, points: &[(String, FileKind)]) -> Result<Vec<Stub>> {
    use rustix::fs::{Mode, OFlags};
    let err = |what: String, e: rustix::io::Errno| SandboxError::io(what, e.into());
    let rootfd = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err(format!("open {}", root.display()), e))?;
    let root_real = fs::canonicalize(root)
        .map_err(|e| SandboxError::io(format!("resolve {}", root.display()), e))?;
    let mut out = Vec::new();
    for (dest, kind) in points {
        let comps: Vec<&str> = dest.split('/').filter(|c| !c.is_empty()).collect();
        let mut parent =
            open_in_root(&rootfd, ".").map_err(|e| err(format!("open {}", root.display()), e))?;
        for (i, name) in comps.iter().enumerate() {
            let rel = comps[..=i].join("/");
            match open_in_root(&rootfd, &rel) {
                Ok(fd) => {
                    parent = fd;
                    continue;
                }
                Err(rustix::io::Errno::NOENT) => {}
                Err(e) => return Err(err(format!("look up {dest} in the rootfs"), e)),
            }
            let times = rustix::fs::fstat(&parent)
                .map_err(|e| err(format!("stat the parent of {rel}"), e))?;
            let made = if i + 1 == comps.len() && *kind == FileKind::File {
                let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC;
                rustix::fs::openat(&parent, *name, flags, Mode::from_raw_mode(0o755)).map(drop)
            } else {
                rustix::fs::mkdirat(&parent, *name, Mode::from_raw_mode(0o755))
            };
            made.map_err(|e| err(format!("create mount point /{rel}"), e))?;
            restore_times(&parent, &times);
            let fd = open_in_root(&rootfd, &rel).map_err(|e| err(format!("open /{rel}"), e))?;
            let real = fd_path(&fd).map_err(|e| err("readlink".into(), e))?;
            out.push(Stub {
                path: real
                    .strip_prefix(&root_real)
                    .map(Path::to_path_buf)
                    .unwrap_or_default(),
            });
            parent = fd;
        }
    }
    Ok(out)
}

fn open_in_root(rootfd: &OwnedFd, rel: &str) -> rustix::io::Result<OwnedFd> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    rustix::fs::openat2(
        rootfd,
        rel,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
}

/// Where an `O_PATH` descriptor points, through `/proc/self/fd`.
fn fd_path(fd: &OwnedFd) -> rustix::io::Result<PathBuf> {
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let real = rustix::fs::readlinkat(rustix::fs::CWD, link.as_str(), Vec::new())?;
    Ok(PathBuf::from(OsStr::from_bytes(real.as_bytes())))
}

/// Sets the times of `stat` on the directory `fd` (an `O_PATH` descriptor,
/// so through its `/proc/self/fd` link). Best effort.
fn restore_times(fd: &OwnedFd, stat: &rustix::fs::Stat) {
    use rustix::fs::{Timespec, Timestamps};
    let stamps = Timestamps {
        last_access: Timespec {
            tv_sec: stat.st_atime as _,
            tv_nsec: stat.st_atime_nsec as _,
        },
        last_modification: Timespec {
            tv_sec: stat.st_mtime as _,
            tv_nsec: stat.st_mtime_nsec as _,
        },
    };
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let _ = rustix::fs::utimensat(
        rustix::fs::CWD,
        link.as_str(),
        &stamps,
        rustix::fs::AtFlags::empty(),
    );
}

/// Removes the stubs that are still empty from `upper` (deepest first),
/// restoring their parents' times, then the directories that only a stub
/// had copied up.
pub fn clean(upper: &Path, lowers: &[PathBuf], stubs: &[Stub]) -> Result<()> {
    let mut stubs: Vec<&Stub> = stubs.iter().collect();
    stubs.sort_by(|a, b| {
        b.path
            .components()
            .count()
            .cmp(&a.path.components().count())
            .then(b.path.cmp(&a.path))
    });
    stubs.dedup();
    let mut parents: Vec<PathBuf> = Vec::new();
    for stub in &stubs {
        let Some(p) = beneath(upper, &stub.path) else {
            continue;
        };
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue;
        };
        let empty = if meta.is_dir() {
            fs::read_dir(&p)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false)
                && !is_opaque(&p)
        } else {
            meta.is_file() && meta.len() == 0
        };
        if !empty {
            continue;
        }
        remove_keeping_parent_times(&p, meta.is_dir())?;
        let mut anc = stub.path.parent();
        while let Some(a) = anc.filter(|a| !a.as_os_str().is_empty()) {
            parents.push(a.to_path_buf());
            anc = a.parent();
        }
    }
    parents.sort_by(|a, b| {
        b.components()
            .count()
            .cmp(&a.components().count())
            .then(b.cmp(a))
    });
    parents.dedup();
    for rel in parents {
        let Some(p) = beneath(upper, &rel) else {
            continue;
        };
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue;
        };
        let Some(lower) = lower_entry(lowers, &rel) else {
            continue;
        };
        let same = meta.is_dir()
            && lower.is_dir()
            && meta.mode() == lower.mode()
            && meta.uid() == lower.uid()
            && meta.gid() == lower.gid()
            && (meta.mtime(), meta.mtime_nsec()) == (lower.mtime(), lower.mtime_nsec());
        let empty = fs::read_dir(&p)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if same && empty && !has_overlay_xattrs(&p) {
            remove_keeping_parent_times(&p, true)?;
        }
    }
    Ok(())
}

/// `dir/rel` if every ancestor of it below `dir` is a real directory. The
/// step could have replaced a stub's parent with a symlink (to the host's
/// /etc, say); nothing here may follow it. The step's processes are all
/// gone when this runs, so the check cannot be raced from inside.
fn beneath(dir: &Path, rel: &Path) -> Option<PathBuf> {
    let mut cur = dir.to_path_buf();
    let comps: Vec<Component> = rel.components().collect();
    for (i, c) in comps.iter().enumerate() {
        let Component::Normal(name) = c else {
            return None;
        };
        cur.push(name);
        if i + 1 < comps.len() {
            let m = fs::symlink_metadata(&cur).ok()?;
            if !m.is_dir() {
                return None;
            }
        }
    }
    Some(cur)
}

fn remove_keeping_parent_times(p: &Path, dir: bool) -> Result<()> {
    let parent = p.parent().unwrap_or(Path::new("/"));
    let times = fs::symlink_metadata(parent).ok();
    let r = if dir {
        fs::remove_dir(p)
    } else {
        fs::remove_file(p)
    };
    r.map_err(|e| SandboxError::io(format!("remove mount stub {}", p.display()), e))?;
    if let Some(m) = times {
        use rustix::fs::{Timespec, Timestamps};
        let stamps = Timestamps {
            last_access: Timespec {
                tv_sec: m.atime(),
                tv_nsec: m.atime_nsec() as _,
            },
            last_modification: Timespec {
                tv_sec: m.mtime(),
                tv_nsec: m.mtime_nsec() as _,
            },
        };
        // Best effort, as in BuildKit: a layer differ may compare mtimes.
        let _ = rustix::fs::utimensat(
            rustix::fs::CWD,
            parent,
            &stamps,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        );
    }
    Ok(())
}

/// The value of an xattr (cut at 256 bytes), `None` if it is not set.
fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = [0u8; 256];
    match rustix::fs::lgetxattr(p, name, &mut buf[..]) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(rustix::io::Errno::RANGE) => Some(buf.to_vec()),
        Err(_) => None,
    }
}

fn is_opaque(p: &Path) -> bool {
    xattr(p, "trusted.overlay.opaque").is_some_and(|v| v == b"y")
}

/// Whether the upper dir entry means more than a copy-up: opaque, renamed
/// (`redirect`) or metadata-only. `origin` and `impure` are bookkeeping of
/// any copy-up and do not count.
fn has_overlay_xattrs(p: &Path) -> bool {
    is_opaque(p)
        || ["trusted.overlay.redirect", "trusted.overlay.metacopy"]
            .iter()
            .any(|n| xattr(p, n).is_some())
}

fn is_whiteout(m: &fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

/// The entry at `rel` as the overlay of `lowers` (bottom first) shows it,
/// or `None` when no lower has it visible there (missing, whited out, or
/// hidden by an opaque or non-directory ancestor in a higher layer).
fn lower_entry(lowers: &[PathBuf], rel: &Path) -> Option<fs::Metadata> {
    'layers: for layer in lowers.iter().rev() {
        let mut cur = layer.clone();
        let comps: Vec<_> = rel.components().collect();
        let mut opaque = false;
        for c in &comps[..comps.len().saturating_sub(1)] {
            cur.push(c);
            match fs::symlink_metadata(&cur) {
                Err(_) => continue 'layers,
                Ok(m) if !m.is_dir() => return None,
                Ok(_) => opaque |= is_opaque(&cur),
            }
        }
        match fs::symlink_metadata(layer.join(rel)) {
            Ok(m) if is_whiteout(&m) => return None,
            Ok(m) => return Some(m),
            Err(_) if opaque => return None,
            Err(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_follows_a_symlink_the_step_put_in_place_of_a_parent() {
        let t = tempfile::tempdir().unwrap();
        let upper = t.path().join("upper");
        let outside = t.path().join("host-etc");
        fs::create_dir_all(outside.join("secrets")).unwrap();
        fs::write(outside.join("secrets/token"), "").unwrap();
        fs::create_dir_all(&upper).unwrap();
        std::os::unix::fs::symlink(&outside, upper.join("run")).unwrap();
        let stubs = [
            Stub { path: "run".into() },
            Stub {
                path: "run/secrets".into(),
            },
            Stub {
                path: "run/secrets/token".into(),
            },
        ];
        clean(&upper, &[], &stubs).unwrap();
        assert!(
            outside.join("secrets/token").exists(),
            "the host file is untouched"
        );
        // The symlink itself is not an empty file or dir: it stays for the layer.
        assert!(fs::symlink_metadata(upper.join("run"))
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[test]
    fn container_paths_become_relative() {
        assert_eq!(
            Stub::from_container_path(b"/etc/hosts").path,
            Path::new("etc/hosts")
        );
        assert_eq!(
            Stub::from_container_path(b"/../x/./y").path,
            Path::new("x/y")
        );
    }

    #[test]
    fn removes_empty_stubs_and_copied_up_parents_only() {
        let t = tempfile::tempdir().unwrap();
        let lower = t.path().join("lower");
        let upper = t.path().join("upper");
        fs::create_dir_all(lower.join("etc")).unwrap();
        fs::write(lower.join("etc/passwd"), "root").unwrap();
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::write(upper.join("etc/hosts"), "").unwrap();
        fs::create_dir_all(upper.join("cache/a")).unwrap();
        fs::create_dir_all(upper.join("kept")).unwrap();
        fs::write(upper.join("kept/file"), "x").unwrap();
        // The copied-up /etc has the lower's metadata.
        let lm = fs::metadata(lower.join("etc")).unwrap();
        fs::set_permissions(upper.join("etc"), lm.permissions()).unwrap();
        let mtime = std::time::SystemTime::UNIX_EPOCH
            + std::time::Duration::new(lm.mtime() as u64, lm.mtime_nsec() as u32);
        fs::File::open(upper.join("etc"))
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let stubs = [
            Stub {
                path: "etc/hosts".into(),
            },
            Stub {
                path: "cache".into(),
            },
            Stub {
                path: "cache/a".into(),
            },
            Stub {
                path: "kept".into(),
            },
        ];
        // The stubs' removal bumps /etc's mtime; clean restores it before comparing.
        clean(&upper, std::slice::from_ref(&lower), &stubs).unwrap();
        assert!(!upper.join("etc").exists(), "pure copy-up of /etc is gone");
        assert!(!upper.join("cache").exists());
        assert!(upper.join("kept/file").exists(), "non-empty stub stays");
        assert!(lower.join("etc/passwd").exists());
    }
}
