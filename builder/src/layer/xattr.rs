//! The extended attributes a layer records ([`is_layer_xattr`](super::whiteout::is_layer_xattr):
//! a file's capabilities), read from host files and carried onto copies.

use super::whiteout::CAPABILITY_XATTR;
use super::writer::get_xattr;
use rustix::io::Errno;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Extended attributes as (name, value) pairs, sorted by name.
pub type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// The xattrs of `path` (not following a symlink) that a layer records. A file system
/// without xattr support has none.
pub fn layer_xattrs(path: &Path) -> io::Result<Xattrs> {
    let name = CAPABILITY_XATTR.as_bytes();
    match get_xattr(path, name) {
        Ok(Some(value)) => Ok(vec![(name.to_vec(), value)]),
        Ok(None) => Ok(Vec::new()),
        Err(e) if e.raw_os_error() == Some(Errno::OPNOTSUPP.raw_os_error()) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Sets `xattrs` on `path` (not following a symlink). Call it after any chown, which clears
/// capabilities. As BuildKit's copier (fsutil `copyXAttrs` with an error handler that only
/// logs), an attribute this file system or process may not set is skipped; the count of
/// skipped ones is returned.
pub fn set_xattrs(path: &Path, xattrs: &Xattrs) -> io::Result<usize> {
    let mut skipped = 0;
    for (name, value) in xattrs {
        let name = OsStr::from_bytes(name);
        match rustix::fs::lsetxattr(path, name, value, rustix::fs::XattrFlags::empty()) {
            Ok(()) => {}
            Err(Errno::PERM | Errno::OPNOTSUPP | Errno::ACCESS | Errno::INVAL) => skipped += 1,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_capabilities_and_copies_them() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"a").unwrap();
        std::fs::write(&b, b"b").unwrap();
        assert_eq!(layer_xattrs(&a).unwrap(), Xattrs::new());
        let user = rustix::fs::lsetxattr(&a, "user.k", b"v", rustix::fs::XattrFlags::empty());
        if user.is_ok() {
            // A user attribute is the host's, never the layer's.
            assert_eq!(layer_xattrs(&a).unwrap(), Xattrs::new());
        }
        // VFS_CAP_REVISION_2 with the effective bit, CAP_NET_BIND_SERVICE permitted.
        let mut cap = vec![0u8; 20];
        cap[..4].copy_from_slice(&0x0200_0001u32.to_le_bytes());
        cap[4..8].copy_from_slice(&(1u32 << 10).to_le_bytes());
        let want = vec![(CAPABILITY_XATTR.as_bytes().to_vec(), cap)];
        if set_xattrs(&a, &want).unwrap() > 0 {
            eprintln!("skipping: cannot set file capabilities here");
            return;
        }
        assert_eq!(layer_xattrs(&a).unwrap(), want);
        assert_eq!(set_xattrs(&b, &layer_xattrs(&a).unwrap()).unwrap(), 0);
        assert_eq!(layer_xattrs(&b).unwrap(), want);
    }
}
