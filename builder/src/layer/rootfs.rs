//! Filesystem operations confined to a root directory: every path is resolved by the kernel
//! with `openat2(RESOLVE_IN_ROOT)` (symlinks, absolute or with `..`, stay inside the root, as in
//! a chroot), or, where `openat2` is missing, by an equivalent walk in user space that opens
//! one component at a time without following links. Changes are then made relative to a
//! directory fd with a single-component name, so nothing is ever written through a link.

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Link resolutions allowed in one path walk, as Linux's `MAXSYMLINKS`.
const MAX_LINKS: usize = 40;

/// Cleans an archive path the way `filepath.Join("/", p)` does: empty and `.` components go,
/// `..` removes the previous component and stops at the root. Returns the components and
/// whether anything had to be neutralized (an absolute path or a `..`).
pub(crate) fn clean(path: &[u8]) -> (Vec<&[u8]>, bool) {
    let mut out: Vec<&[u8]> = Vec::new();
    let mut changed = path.first() == Some(&b'/');
    for comp in path.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                changed = true;
                out.pop();
            }
            c => out.push(c),
        }
    }
    (out, changed)
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC
}

/// The destination directory of an extraction.
pub(crate) struct Root {
    fd: OwnedFd,
    openat2: bool,
}

impl Root {
    /// Opens `path` as the root; `portable` forces the user-space walk.
    pub(crate) fn open(path: &Path, portable: bool) -> io::Result<Root> {
        let fd = rustix::fs::open(path, dir_flags(), Mode::empty())?;
        let openat2 = !portable && probe_openat2(&fd);
        Ok(Root { fd, openat2 })
    }

    /// Opens the directory at `comps` inside the root (symlinks resolved within it). With
    /// `create`, missing directories are made (mode 0755, like docker's implicit parents).
    /// `Ok(None)` when it does not exist and `create` is false.
    pub(crate) fn dir(&self, comps: &[&[u8]], create: bool) -> io::Result<Option<OwnedFd>> {
        if comps.is_empty() {
            return rustix::fs::openat(&self.fd, c".", dir_flags(), Mode::empty())
                .map(Some)
                .map_err(Into::into);
        }
        match self.open_dir(comps) {
            Ok(fd) => return Ok(Some(fd)),
            Err(Errno::NOENT) if create => {}
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        // Make the missing components one by one, each inside the previous, resolved one.
        let mut parent = self
            .dir(&[], false)?
            .ok_or_else(|| io::Error::from(Errno::NOENT))?;
        for i in 0..comps.len() {
            match self.open_dir(&comps[..=i]) {
                Ok(fd) => parent = fd,
                Err(Errno::NOENT) => {
                    let name = std::ffi::OsStr::from_bytes(comps[i]);
                    match rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    // A dangling link in the way fails here: we never create what it names.
                    parent = rustix::fs::openat(
                        &parent,
                        name,
                        dir_flags() | OFlags::NOFOLLOW,
                        Mode::empty(),
                    )
                    .map_err(|e| match e {
                        Errno::NOTDIR | Errno::LOOP => io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!(
                                "{} is not a directory (a link to one missing inside the root?)",
                                String::from_utf8_lossy(&comps[..=i].join(&b'/'))
                            ),
                        ),
                        e => e.into(),
                    })?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Some(parent))
    }

    fn open_dir(&self, comps: &[&[u8]]) -> Result<OwnedFd, Errno> {
        if self.openat2 {
            let path = std::ffi::OsStr::from_bytes(&comps.join(&b'/')).to_os_string();
            let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
            let mut tries = 0;
            loop {
                match rustix::fs::openat2(&self.fd, &path, dir_flags(), Mode::empty(), how) {
                    // EAGAIN: a concurrent rename raced the lookup; the kernel asks to retry.
                    Err(Errno::AGAIN) if tries < 8 => tries += 1,
                    other => return other,
                }
            }
        } else {
            self.walk(comps)
        }
    }

    /// The user-space equivalent of `RESOLVE_IN_ROOT`: follows links component by component,
    /// an absolute target restarting at the root and `..` never climbing above it.
    fn walk(&self, comps: &[&[u8]]) -> Result<OwnedFd, Errno> {
        let mut todo: VecDeque<Vec<u8>> = comps.iter().map(|c| c.to_vec()).collect();
        let mut stack: Vec<OwnedFd> = Vec::new();
        let mut links = 0;
        while let Some(comp) = todo.pop_front() {
            match comp.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    stack.pop();
                    continue;
                }
                _ => {}
            }
            let name = std::ffi::OsStr::from_bytes(&comp);
            let cur: BorrowedFd<'_> = stack.last().map_or(self.fd.as_fd(), |f| f.as_fd());
            let st = rustix::fs::statat(cur, name, AtFlags::SYMLINK_NOFOLLOW)?;
            match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory => {
                    let fd = rustix::fs::openat(
                        cur,
                        name,
                        dir_flags() | OFlags::NOFOLLOW,
                        Mode::empty(),
                    )?;
                    stack.push(fd);
                }
                FileType::Symlink => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(Errno::LOOP);
                    }
                    let target = rustix::fs::readlinkat(cur, name, Vec::new())?.into_bytes();
                    if target.first() == Some(&b'/') {
                        stack.clear();
                    }
                    for part in target.split(|&b| b == b'/').rev() {
                        todo.push_front(part.to_vec());
                    }
                }
                _ => return Err(Errno::NOTDIR),
            }
        }
        match stack.pop() {
            Some(fd) => Ok(fd),
            None => rustix::fs::openat(&self.fd, c".", dir_flags(), Mode::empty()),
        }
    }
}

/// True when the kernel has `openat2` and lets us use it (seccomp filters may answer ENOSYS
/// or EPERM).
fn probe_openat2(fd: &OwnedFd) -> bool {
    rustix::fs::openat2(fd, c".", dir_flags(), Mode::empty(), ResolveFlags::IN_ROOT).is_ok()
}

/// What is at `name` in `dir`, not following a link; None when nothing is.
pub(crate) fn lstat_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Option<FileType>> {
    match rustix::fs::statat(
        dir,
        std::ffi::OsStr::from_bytes(name),
        AtFlags::SYMLINK_NOFOLLOW,
    ) {
        Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Removes `name` from `dir`, a directory with all its contents; nothing there is fine.
/// Never follows a link: a link is removed, not its target.
pub(crate) fn remove_all(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let os = std::ffi::OsStr::from_bytes(name);
    match lstat_at(dir, name)? {
        None => Ok(()),
        Some(FileType::Directory) => {
            let sub = rustix::fs::openat(dir, os, dir_flags() | OFlags::NOFOLLOW, Mode::empty())?;
            for child in children(sub.as_fd())? {
                remove_all(sub.as_fd(), &child)?;
            }
            remove_ignoring_missing(dir, os, AtFlags::REMOVEDIR)
        }
        Some(_) => remove_ignoring_missing(dir, os, AtFlags::empty()),
    }
}

fn remove_ignoring_missing(
    dir: BorrowedFd<'_>,
    name: &std::ffi::OsStr,
    flags: AtFlags,
) -> io::Result<()> {
    match rustix::fs::unlinkat(dir, name, flags) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The names in a directory, without `.` and `..`.
pub(crate) fn children(dir: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(name.to_vec());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_stays_inside() {
        let c = |p: &'static [u8]| {
            let (comps, changed) = clean(p);
            (comps.join(&b'/'), changed)
        };
        assert_eq!(c(b"a/b/c"), (b"a/b/c".to_vec(), false));
        assert_eq!(c(b"./a//b/"), (b"a/b".to_vec(), false));
        assert_eq!(c(b"/etc/passwd"), (b"etc/passwd".to_vec(), true));
        assert_eq!(c(b"../../x"), (b"x".to_vec(), true));
        assert_eq!(c(b"a/../../b"), (b"b".to_vec(), true));
        assert_eq!(c(b".."), (Vec::new(), true));
    }

    #[test]
    fn both_resolvers_confine_links() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("real/sub")).unwrap();
        std::os::unix::fs::symlink("/real", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../real", root.join("up")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        for portable in [false, true] {
            let r = Root::open(&root, portable).unwrap();
            for via in [&b"abs"[..], b"up"] {
                let fd = r.dir(&[via, b"sub"], false).unwrap().unwrap();
                let st = rustix::fs::fstat(&fd).unwrap();
                let want = std::fs::metadata(root.join("real/sub")).unwrap();
                use std::os::unix::fs::MetadataExt;
                assert_eq!(st.st_ino, want.ino(), "portable {portable}");
            }
            assert!(r.dir(&[b"loop"], false).is_err());
            assert!(r.dir(&[b"none"], false).unwrap().is_none());
            r.dir(&[b"abs", b"new", b"deep"], true).unwrap().unwrap();
            assert!(root.join("real/new/deep").is_dir());
            std::fs::remove_dir_all(root.join("real/new")).unwrap();
        }
    }
}
