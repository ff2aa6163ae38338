//! Paths inside an image's file system, resolved as BuildKit resolves COPY/ADD/WORKDIR
//! destinations (continuity's `fs.RootPath`, used by fsutil's `Copy` and by `mkdir`):
//! symlinks are followed *inside* the rootfs, an absolute target starts again at its root and
//! `..` stops at the root. The rootfs is the layered view of a stage's snapshots (top layer
//! first, with overlay whiteouts and opaque directories), walked one component at a time
//! with `lstat`: every host path opened goes through real directories only, so no symlink a
//! layer holds is ever followed on the host.

use super::SolveError;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// How many symlinks one resolution may follow before it fails with ELOOP (Linux's
/// `MAXSYMLINKS`; continuity allows 255, a chain that long does not occur in real images).
pub const MAX_LINKS: usize = 40;

/// An entry of the layered view.
#[derive(Debug)]
pub struct Found {
    /// Its host path in the topmost layer that has it; every directory on the way is a real
    /// directory (not a symlink), so the path can be used as it is.
    pub host: PathBuf,
    /// Its own metadata (`lstat`: a symlink is a symlink).
    pub meta: fs::Metadata,
}

impl Found {
    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.meta.is_dir()
    }
    /// True for a symlink.
    pub fn is_symlink(&self) -> bool {
        self.meta.file_type().is_symlink()
    }
}

fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(dir: &Path) -> bool {
    let mut buf = [0u8; 4];
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|key| matches!(rustix::fs::lgetxattr(dir, *key, &mut buf), Ok(1) if buf[0] == b'y'))
}

fn components(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".")
}

/// The entry at `path` (absolute or relative to the root, taken literally: no symlink in it
/// is followed, `..` finds nothing) in the layered view of `lowers` (bottom first).
pub fn lookup(lowers: &[PathBuf], path: &str) -> Option<Found> {
    walk(lowers, path).map(|(found, _)| found)
}

/// The host directories that make up the directory at `path` in the layered view, top layer
/// first (what an overlay of them shows), when it is a directory.
pub fn merged_dirs(lowers: &[PathBuf], path: &str) -> Option<Vec<PathBuf>> {
    walk(lowers, path)
        .filter(|(found, _)| found.is_dir())
        .map(|(_, dirs)| dirs)
}

/// The entries named `comp` in the host directories `dirs` (top first): the topmost one and,
/// when it is a directory, every directory that shows through below it.
fn step(dirs: &[PathBuf], comp: &std::ffi::OsStr) -> Option<(Found, Vec<PathBuf>)> {
    let mut top: Option<Found> = None;
    let mut merged = Vec::new();
    for dir in dirs {
        let host = dir.join(comp);
        let Ok(meta) = fs::symlink_metadata(&host) else {
            continue;
        };
        if is_whiteout(&meta) {
            break;
        }
        let is_dir = meta.is_dir();
        if top.is_none() {
            top = Some(Found {
                host: host.clone(),
                meta,
            });
        }
        if !is_dir {
            break;
        }
        let opaque = is_opaque(&host);
        merged.push(host);
        if opaque {
            break;
        }
    }
    top.map(|found| (found, merged))
}

fn walk(lowers: &[PathBuf], path: &str) -> Option<(Found, Vec<PathBuf>)> {
    let comps: Vec<&str> = components(path).collect();
    // The host directories that make up the current directory, top layer first: a lower
    // layer's directory shows through until a whiteout, an opaque directory or a non-directory.
    let mut dirs: Vec<PathBuf> = lowers.iter().rev().cloned().collect();
    let mut current = Found {
        host: dirs.first()?.clone(),
        meta: fs::symlink_metadata(dirs.first()?).ok()?,
    };
    for comp in comps {
        if comp == ".." || !current.is_dir() {
            return None;
        }
        let (found, merged) = step(&dirs, comp.as_ref())?;
        current = found;
        dirs = merged;
    }
    Some((current, dirs))
}

/// Names in the merged directory made of `dirs` (top first) with their topmost entry and,
/// for directories, the host directories below that show through. Whiteouts hide names.
#[allow(clippy::type_complexity)]
pub fn read_merged(
    dirs: &[PathBuf],
) -> std::io::Result<Vec<(std::ffi::OsString, Found, Vec<PathBuf>)>> {
    let mut names = std::collections::BTreeSet::new();
    for dir in dirs {
        for entry in fs::read_dir(dir)? {
            names.insert(entry?.file_name());
        }
    }
    Ok(names
        .into_iter()
        .filter_map(|name| step(dirs, &name).map(|(found, merged)| (name, found, merged)))
        .collect())
}

fn too_many_links(path: &str) -> SolveError {
    SolveError::Io(
        path.to_string(),
        std::io::Error::from_raw_os_error(rustix::io::Errno::LOOP.raw_os_error()),
    )
}

/// `path` (absolute in the image) with every symlink in it followed inside the rootfs, as
/// continuity's `RootPath`: the result is absolute and clean (`/` for the root). Missing
/// components are kept as they are (the caller creates them); a dangling link resolves to
/// where it points. More than [`MAX_LINKS`] links fail with ELOOP.
pub fn resolve(lowers: &[PathBuf], path: &str) -> Result<String, SolveError> {
    // Components still to walk, the next one last.
    let mut todo: Vec<String> = components(path).rev().map(str::to_string).collect();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    // Once a component is missing, nothing below it exists: no more lookups.
    let mut missing = false;
    while let Some(comp) = todo.pop() {
        if comp == ".." {
            // Lexical on a path whose links are all resolved: the real parent.
            done.pop();
            missing = false;
            continue;
        }
        done.push(comp);
        if missing {
            continue;
        }
        let Some(found) = lookup(lowers, &done.join("/")) else {
            missing = true;
            continue;
        };
        if !found.is_symlink() {
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            return Err(too_many_links(path));
        }
        // readlink does not follow the link itself, and its parents are real directories.
        let target = fs::read_link(&found.host)
            .map_err(|e| SolveError::Io(found.host.display().to_string(), e))?;
        let target = target.to_string_lossy();
        done.pop();
        if target.starts_with('/') {
            done.clear();
        }
        todo.extend(components(&target).rev().map(str::to_string));
    }
    Ok(format!("/{}", done.join("/")))
}

/// [`resolve`] for a COPY/ADD destination: a trailing `/` (the destination is a directory)
/// is kept.
pub fn resolve_dest(lowers: &[PathBuf], dest: &str) -> Result<String, SolveError> {
    let mut out = resolve(lowers, dest)?;
    if dest.ends_with('/') && !out.ends_with('/') {
        out.push('/');
    }
    Ok(out)
}

/// The metadata of the directory at the resolved `path`, when the image has one.
pub fn dir_meta(lowers: &[PathBuf], path: &str) -> Option<fs::Metadata> {
    lookup(lowers, path)
        .filter(Found::is_dir)
        .map(|found| found.meta)
}

/// The contents of the regular file at `path` (symlinks followed inside the rootfs), when
/// the image has one. Opened with O_NOFOLLOW through real directories only.
pub fn read_file(lowers: &[PathBuf], path: &str) -> Option<Vec<u8>> {
    let resolved = resolve(lowers, path).ok()?;
    let found = lookup(lowers, &resolved)?;
    if !found.meta.is_file() {
        return None;
    }
    let mut file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&found.host)
        .ok()?;
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut out).ok()?;
    Some(out)
}

/// Creates the resolved directory `dir` and its missing parents in `staging` (a layer laid
/// out as the image's root). Directories the image has keep their mode, owner and mtime (the
/// layer must not change them); new ones are 0755 and owned by `owner`.
pub fn mkdir_all(
    staging: &Path,
    lowers: &[PathBuf],
    dir: &str,
    owner: (u32, u32),
) -> Result<(), SolveError> {
    let mut rel = String::new();
    for comp in components(dir) {
        if !rel.is_empty() {
            rel.push('/');
        }
        rel.push_str(comp);
        let host = staging.join(&rel);
        if fs::symlink_metadata(&host).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let err = |e| SolveError::Io(host.display().to_string(), e);
        fs::create_dir(&host).map_err(err)?;
        let (mode, (uid, gid), mtime) = match dir_meta(lowers, &rel) {
            Some(meta) => (
                meta.mode() & 0o7777,
                (meta.uid(), meta.gid()),
                Some((meta.mtime(), meta.mtime_nsec())),
            ),
            None => (0o755, owner, None),
        };
        std::os::unix::fs::lchown(&host, Some(uid), Some(gid)).map_err(err)?;
        fs::set_permissions(&host, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .map_err(err)?;
        if let Some((sec, nsec)) = mtime {
            let t = rustix::fs::Timespec {
                tv_sec: sec,
                tv_nsec: nsec as _,
            };
            rustix::fs::utimensat(
                rustix::fs::CWD,
                &host,
                &rustix::fs::Timestamps {
                    last_access: t,
                    last_modification: t,
                },
                rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| SolveError::Io(host.display().to_string(), e.into()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// Two layers: the base has /opt/app, /var/run -> /run (absolute), /app -> opt/app
    /// (relative), /up -> ../../opt (`..` past the root), /host -> /etc (a host path), a
    /// dangling link and a loop; the top layer whites out /gone and adds /opt/app/new.
    fn layers() -> (tempfile::TempDir, Vec<PathBuf>) {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base");
        let top = dir.path().join("top");
        for d in ["opt/app", "run", "var", "gone", "etc"] {
            fs::create_dir_all(base.join(d)).unwrap();
        }
        fs::write(base.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        symlink("/run", base.join("var/run")).unwrap();
        symlink("opt/app", base.join("app")).unwrap();
        symlink("../../opt", base.join("up")).unwrap();
        symlink("/etc", base.join("host")).unwrap();
        symlink("/nowhere/x", base.join("dangling")).unwrap();
        symlink("loop2", base.join("loop1")).unwrap();
        symlink("/loop1", base.join("loop2")).unwrap();
        symlink("/host/passwd", base.join("pw")).unwrap();
        fs::create_dir_all(top.join("opt/app/new")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            top.join("gone"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::from_raw_mode(0),
            0,
        )
        .ok();
        (dir, vec![base, top])
    }

    #[test]
    fn follows_links_inside_the_root() {
        let (_dir, lowers) = layers();
        let r = |p: &str| resolve(&lowers, p).unwrap();
        assert_eq!(r("/var/run/x"), "/run/x");
        assert_eq!(r("/app/"), "/opt/app");
        assert_eq!(r("/app/new/f"), "/opt/app/new/f");
        assert_eq!(r("/up/app"), "/opt/app");
        assert_eq!(r("/../../app"), "/opt/app");
        assert_eq!(r("/app/../x"), "/opt/x");
        assert_eq!(r("/dangling"), "/nowhere/x");
        assert_eq!(r("/missing/app"), "/missing/app");
        assert_eq!(r("/"), "/");
        // /host points at /etc: the image's /etc, never the host's.
        assert_eq!(r("/host/shadow"), "/etc/shadow");
        assert_eq!(
            read_file(&lowers, "/pw").unwrap(),
            b"root:x:0:0::/root:/bin/sh\n"
        );
    }

    #[test]
    fn loops_fail_with_eloop() {
        let (_dir, lowers) = layers();
        let err = resolve(&lowers, "/loop1/x").unwrap_err();
        match err {
            SolveError::Io(_, e) => assert_eq!(e.raw_os_error(), Some(40)),
            other => panic!("{other}"),
        }
        // A chain of exactly MAX_LINKS links resolves; one more does not.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        fs::create_dir(root.join("end")).unwrap();
        for i in 0..MAX_LINKS {
            let next = if i + 1 == MAX_LINKS {
                "end".to_string()
            } else {
                format!("l{}", i + 1)
            };
            symlink(next, root.join(format!("l{i}"))).unwrap();
        }
        let lowers = vec![root.clone()];
        assert_eq!(resolve(&lowers, "/l0/f").unwrap(), "/end/f");
        symlink("l0", root.join("lx")).unwrap();
        assert!(resolve(&lowers, "/lx/f").is_err());
    }

    #[test]
    fn lookups_never_pass_a_host_link() {
        let (_dir, lowers) = layers();
        // Literal lookups through a link find nothing (the host's /etc/hostname is not read).
        assert!(lookup(&lowers, "host/hostname").is_none());
        assert!(lookup(&lowers, "host").unwrap().is_symlink());
        assert!(read_file(&lowers, "/host/hostname").is_none());
        assert!(dir_meta(&lowers, "host").is_none());
        // Layers merge; a whiteout hides the lower entry.
        assert!(lookup(&lowers, "opt/app/new").unwrap().is_dir());
        assert!(lookup(&lowers, "etc/passwd").is_some());
        if fs::symlink_metadata(lowers[1].join("gone")).is_ok() {
            assert!(lookup(&lowers, "gone").is_none());
        }
    }

    #[test]
    fn mkdir_all_keeps_the_image_metadata() {
        let (dir, lowers) = layers();
        let meta = fs::metadata(lowers[0].join("opt")).unwrap();
        let staging = dir.path().join("staging");
        fs::create_dir(&staging).unwrap();
        let target = resolve(&lowers, "/app/sub").unwrap();
        mkdir_all(&staging, &lowers, &target, (0, 0)).unwrap();
        let made = fs::metadata(staging.join("opt")).unwrap();
        assert_eq!(made.mtime(), meta.mtime());
        assert!(staging.join("opt/app/sub").is_dir());
        assert!(!staging.join("app").exists());
    }
}
