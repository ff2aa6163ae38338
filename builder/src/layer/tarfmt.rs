//! Normalized tar headers: USTAR blocks with PAX records only where USTAR cannot say it (long
//! or non-ASCII names, large ids/sizes/times, xattrs), as Go's `archive/tar` writes PAX-format
//! archives. Every field is a function of the entry alone, so equal trees give equal bytes.

use std::io::{self, Write};

/// Size of a tar block.
pub(crate) const BLOCK: usize = 512;

/// Largest value of an 8-byte octal field (uid, gid, mode).
const MAX_OCTAL_8: u64 = 0o7_777_777;
/// Largest value of a 12-byte octal field (size, mtime).
const MAX_OCTAL_12: u64 = 0o77_777_777_777;

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind<'a> {
    /// A regular file with this many bytes of content.
    Regular(u64),
    /// A directory.
    Dir,
    /// A symbolic link to the target.
    Symlink(&'a [u8]),
    /// A hard link to an earlier entry's name.
    Hardlink(&'a [u8]),
    /// A character device (major, minor).
    Char(u32, u32),
    /// A block device (major, minor).
    Block(u32, u32),
    /// A named pipe.
    Fifo,
}

/// One entry's header fields.
#[derive(Debug, Clone)]
pub(crate) struct Entry<'a> {
    /// The tar name (no leading `/` or `./`; directories end with `/`).
    pub name: &'a [u8],
    /// What it is.
    pub kind: Kind<'a>,
    /// Permission bits with setuid, setgid and sticky.
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Modification time, whole seconds since the epoch.
    pub mtime: i64,
    /// Extended attributes, sorted by name.
    pub xattrs: &'a [(Vec<u8>, Vec<u8>)],
}

/// Appends one PAX record (`"<len> key=value\n"`, where len counts the whole record).
fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    // The length counts its own digits: grow until it is stable.
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// Writes `value` as zero-padded octal with a trailing NUL, or GNU base-256 when it does not
/// fit (readers that ignore the PAX record still get the right number).
fn number(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:o}");
    if text.len() <= digits {
        field.fill(b'0');
        field[digits - text.len()..digits].copy_from_slice(text.as_bytes());
        field[digits] = 0;
    } else {
        field.fill(0);
        let bytes = value.to_be_bytes();
        let n = bytes.len().min(field.len());
        let start = field.len() - n;
        field[start..].copy_from_slice(&bytes[bytes.len() - n..]);
        field[0] |= 0x80;
    }
}

/// Copies `value` into a name-like field, keeping only ASCII as Go does when the real value
/// travels in a PAX record.
fn text(field: &mut [u8], value: &[u8]) {
    let ascii = value.iter().copied().filter(u8::is_ascii);
    for (slot, b) in field.iter_mut().zip(ascii) {
        *slot = b;
    }
}

/// True when `value` fits a USTAR string field of `len` bytes as is.
fn fits(value: &[u8], len: usize) -> bool {
    value.len() <= len && value.is_ascii()
}

fn block(
    name: &[u8],
    typeflag: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: u64,
) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    text(&mut b[0..100], name);
    number(&mut b[100..108], u64::from(mode));
    number(&mut b[108..116], uid);
    number(&mut b[116..124], gid);
    number(&mut b[124..136], size);
    number(&mut b[136..148], mtime);
    b[156] = typeflag;
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    b
}

fn checksum(b: &mut [u8; BLOCK]) {
    b[148..156].fill(b' ');
    let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
    let text = format!("{sum:06o}\0 ");
    b[148..156].copy_from_slice(text.as_bytes());
}

/// Writes the header block(s) of `e` (a PAX extension entry first when needed) and returns the
/// number of bytes written. The caller writes the content and its padding.
pub(crate) fn write_header(w: &mut impl Write, e: &Entry<'_>) -> io::Result<u64> {
    let (typeflag, size, link, dev) = match e.kind {
        Kind::Regular(size) => (b'0', size, &[][..], None),
        Kind::Dir => (b'5', 0, &[][..], None),
        Kind::Symlink(t) => (b'2', 0, t, None),
        Kind::Hardlink(t) => (b'1', 0, t, None),
        Kind::Char(ma, mi) => (b'3', 0, &[][..], Some((ma, mi))),
        Kind::Block(ma, mi) => (b'4', 0, &[][..], Some((ma, mi))),
        Kind::Fifo => (b'6', 0, &[][..], None),
    };
    let mut pax = Vec::new();
    for (key, value) in e.xattrs {
        let mut k = b"SCHILY.xattr.".to_vec();
        k.extend_from_slice(key);
        pax_record(&mut pax, &k, value);
    }
    if e.gid > MAX_OCTAL_8 {
        pax_record(&mut pax, b"gid", e.gid.to_string().as_bytes());
    }
    if !fits(link, 100) {
        pax_record(&mut pax, b"linkpath", link);
    }
    let mtime_field = match u64::try_from(e.mtime) {
        Ok(t) if t <= MAX_OCTAL_12 => t,
        _ => {
            pax_record(&mut pax, b"mtime", e.mtime.to_string().as_bytes());
            0
        }
    };
    if !fits(e.name, 100) {
        pax_record(&mut pax, b"path", e.name);
    }
    if size > MAX_OCTAL_12 {
        pax_record(&mut pax, b"size", size.to_string().as_bytes());
    }
    if e.uid > MAX_OCTAL_8 {
        pax_record(&mut pax, b"uid", e.uid.to_string().as_bytes());
    }

    let mut written = 0u64;
    if !pax.is_empty() {
        // Named like Go's: a fixed, host-independent name.
        let mut b = block(b"PaxHeaders.0", b'x', 0o644, 0, 0, pax.len() as u64, 0);
        checksum(&mut b);
        w.write_all(&b)?;
        w.write_all(&pax)?;
        let pad = padding(pax.len() as u64);
        w.write_all(&ZEROS[..pad])?;
        written += (BLOCK + pax.len() + pad) as u64;
    }
    let mut b = block(e.name, typeflag, e.mode, e.uid, e.gid, size, mtime_field);
    text(&mut b[157..257], link);
    if let Some((major, minor)) = dev {
        number(&mut b[329..337], u64::from(major));
        number(&mut b[337..345], u64::from(minor));
    }
    checksum(&mut b);
    w.write_all(&b)?;
    Ok(written + BLOCK as u64)
}

/// Zeros for padding and the end-of-archive marker.
pub(crate) const ZEROS: [u8; 2 * BLOCK] = [0; 2 * BLOCK];

/// Bytes of padding after `len` bytes of content.
pub(crate) fn padding(len: u64) -> usize {
    ((BLOCK as u64 - len % BLOCK as u64) % BLOCK as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    type Pax = Vec<(String, Vec<u8>)>;

    fn read_back(bytes: &[u8]) -> Vec<(Vec<u8>, u64, u64, Pax)> {
        let mut a = tar::Archive::new(bytes);
        let mut out = Vec::new();
        for entry in a.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut pax = Vec::new();
            if let Some(exts) = entry.pax_extensions().unwrap() {
                for ext in exts {
                    let ext = ext.unwrap();
                    pax.push((ext.key().unwrap().to_string(), ext.value_bytes().to_vec()));
                }
            }
            let h = entry.header();
            out.push((
                entry.path_bytes().to_vec(),
                h.uid().unwrap(),
                h.mtime().unwrap(),
                pax,
            ));
        }
        out
    }

    #[test]
    fn pax_record_length_counts_itself() {
        for n in 0..300 {
            let mut v = Vec::new();
            pax_record(&mut v, b"path", &vec![b'a'; n]);
            let text = String::from_utf8(v.clone()).unwrap();
            let len: usize = text.split(' ').next().unwrap().parse().unwrap();
            assert_eq!(len, v.len(), "value length {n}");
        }
    }

    #[test]
    fn long_names_large_ids_and_xattrs_use_pax() {
        let long = vec![b'n'; 150];
        let xattrs = vec![(b"user.k".to_vec(), b"v\0bin".to_vec())];
        let e = Entry {
            name: &long,
            kind: Kind::Regular(0),
            mode: 0o4755,
            uid: 5_000_000,
            gid: 1,
            mtime: 1_700_000_000,
            xattrs: &xattrs,
        };
        let mut out = Vec::new();
        let n = write_header(&mut out, &e).unwrap();
        assert_eq!(n as usize, out.len());
        out.extend_from_slice(&ZEROS);
        let entries = read_back(&out);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].0, long);
        assert_eq!(entries[0].1, 5_000_000);
        assert_eq!(entries[0].2, 1_700_000_000);
        let keys: Vec<&str> = entries[0].3.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["SCHILY.xattr.user.k", "path", "uid"]);
        assert_eq!(entries[0].3[0].1, b"v\0bin");
    }

    #[test]
    fn short_ascii_entry_has_no_pax() {
        let e = Entry {
            name: b"etc/passwd",
            kind: Kind::Regular(3),
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            xattrs: &[],
        };
        let mut out = Vec::new();
        assert_eq!(write_header(&mut out, &e).unwrap(), 512);
        let h = tar::Header::from_byte_slice(&out);
        assert_eq!(h.path_bytes().as_ref(), b"etc/passwd");
        assert_eq!(h.size().unwrap(), 3);
        assert_eq!(h.mode().unwrap(), 0o644);
        assert!(h.as_ustar().is_some());
        assert_eq!(h.cksum().unwrap(), {
            let mut c = out.clone();
            c[148..156].fill(b' ');
            c.iter().map(|&x| u32::from(x)).sum::<u32>()
        });
    }
}
