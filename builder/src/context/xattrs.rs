//! Extended attributes in context digests, taken as BuildKit's content hash takes them
//! (cache/contenthash `NewFromStat` over the xattrs fsutil's sender read): every xattr except
//! `security.*` other than `security.capability`, and `system.*` (tarsum v1's selection);
//! fsutil's sender also leaves out `com.apple.*`. So a COPY whose source changed only in such
//! an xattr is not answered by the old cache entry, as in BuildKit.
//!
//! An entry's xattrs enter its node as one sha256 ([`Sum`]) over "strata.context.xattrs\0",
//! u64 count, then per xattr in byte order of names: u64 length + name, u64 length + value
//! (integers big-endian); an entry without any has none.

use super::statcache::Sum;
use rustix::buffer::spare_capacity;
use rustix::io::Errno;
use std::ffi::OsStr;
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use strata_cache::Hasher;

/// True for the xattrs BuildKit's content hash covers.
pub(crate) fn is_hashed(name: &[u8]) -> bool {
    if name.starts_with(b"com.apple.") || name.starts_with(b"system.") {
        return false;
    }
    name == b"security.capability" || !name.starts_with(b"security.")
}

/// Where the xattrs are read: a path (not following a final symlink) or an open file.
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    /// `llistxattr`/`lgetxattr`.
    Path(&'a Path),
    /// `flistxattr`/`fgetxattr`.
    Fd(BorrowedFd<'a>),
}

impl Source<'_> {
    fn list(self, buf: &mut Vec<u8>) -> rustix::io::Result<()> {
        loop {
            buf.clear();
            let res = match self {
                Source::Path(p) => rustix::fs::llistxattr(p, spare_capacity(buf)),
                Source::Fd(fd) => rustix::fs::flistxattr(fd, spare_capacity(buf)),
            };
            match res {
                Ok(_) => return Ok(()),
                Err(Errno::RANGE) => {
                    let need = match self {
                        Source::Path(p) => rustix::fs::llistxattr_query(p)?,
                        Source::Fd(fd) => rustix::fs::flistxattr_query(fd)?,
                    };
                    buf.reserve(need.max(buf.capacity() * 2));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads the value into `buf`; false when the xattr vanished meanwhile.
    fn get(self, name: &OsStr, buf: &mut Vec<u8>) -> rustix::io::Result<bool> {
        loop {
            buf.clear();
            let res = match self {
                Source::Path(p) => rustix::fs::lgetxattr(p, name, spare_capacity(buf)),
                Source::Fd(fd) => rustix::fs::fgetxattr(fd, name, spare_capacity(buf)),
            };
            match res {
                Ok(_) => return Ok(true),
                Err(Errno::NODATA) => return Ok(false),
                Err(Errno::RANGE) => {
                    let need = match self {
                        Source::Path(p) => rustix::fs::lgetxattr_query(p, name)?,
                        Source::Fd(fd) => rustix::fs::fgetxattr_query(fd, name)?,
                    };
                    buf.reserve(need.max(buf.capacity() * 2));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The digest of the hashed xattrs of `src`, None when it has none (or its file system has
/// no xattrs).
pub(crate) fn digest(src: Source<'_>) -> io::Result<Option<Sum>> {
    let mut names = Vec::with_capacity(256);
    match src.list(&mut names) {
        Ok(()) => {}
        Err(Errno::OPNOTSUPP) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let mut names: Vec<&[u8]> = names
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty() && is_hashed(n))
        .collect();
    if names.is_empty() {
        return Ok(None);
    }
    names.sort_unstable();
    let mut pairs = Vec::with_capacity(names.len());
    let mut value = Vec::with_capacity(64);
    for name in names {
        if src.get(OsStr::from_bytes(name), &mut value)? {
            pairs.push((name, value.clone()));
        }
    }
    if pairs.is_empty() {
        return Ok(None);
    }
    let mut h = Hasher::new();
    h.update(b"strata.context.xattrs\0");
    h.update(&(pairs.len() as u64).to_be_bytes());
    for (name, value) in &pairs {
        h.update(&(name.len() as u64).to_be_bytes());
        h.update(name);
        h.update(&(value.len() as u64).to_be_bytes());
        h.update(value);
    }
    Ok(Some(*h.finish().0.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn buildkit_selection() {
        for yes in [
            "user.x",
            "trusted.md5",
            "security.capability",
            "btrfs.compression",
        ] {
            assert!(is_hashed(yes.as_bytes()), "{yes}");
        }
        for no in [
            "security.selinux",
            "security.ima",
            "system.posix_acl_access",
            "com.apple.q",
        ] {
            assert!(!is_hashed(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn digest_follows_hashed_xattrs() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        assert_eq!(digest(Source::Path(&f)).unwrap(), None);
        let set = |k: &str, v: &[u8]| {
            rustix::fs::lsetxattr(&f, k, v, rustix::fs::XattrFlags::empty()).is_ok()
        };
        if !set("user.a", b"1") {
            eprintln!("skipping: no user xattrs here");
            return;
        }
        let one = digest(Source::Path(&f)).unwrap().unwrap();
        let file = std::fs::File::open(&f).unwrap();
        assert_eq!(digest(Source::Fd(file.as_fd())).unwrap(), Some(one));
        assert!(set("user.a", b"2"));
        let two = digest(Source::Path(&f)).unwrap().unwrap();
        assert_ne!(one, two);
        // A long value is read whole.
        assert!(set("user.a", &[7u8; 3000]));
        assert_ne!(digest(Source::Path(&f)).unwrap().unwrap(), two);
    }
}
