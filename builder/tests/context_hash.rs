//! Content digests of selections: what changes them and what must not, the documented
//! encoding, and the stat cache (hit accounting, touch, corruption, versions, atomic save).

use sha2::{Digest as _, Sha256};
use std::fs::{self, File, FileTimes};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};
use strata_builder::context::{
    ContextError, ContextView, HashStats, LoadStatus, StatCache, ENCODING_VERSION,
};
use strata_cache::Digest;

fn write(root: &Path, files: &[(&str, &str)]) {
    for (p, content) in files {
        let p = root.join(p);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, content).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
    }
}

fn set_mtime(p: &Path, secs_ago: u64) {
    let t = SystemTime::now() - Duration::from_secs(secs_ago);
    File::open(p)
        .unwrap()
        .set_times(FileTimes::new().set_modified(t))
        .unwrap();
}

/// Digest of selecting `sources` in a fresh view of `root`, and the view's counters.
fn digest_with(root: &Path, sources: &[&str], cache: &StatCache) -> (Digest, HashStats) {
    let view = ContextView::open(root, &[] as &[&str]).unwrap();
    let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
    let sel = view.select(&sources).unwrap();
    let d = view.digest(&sel, cache).unwrap();
    (d, view.hash_stats())
}

/// Sets a user xattr; false where the file system has none.
fn set_xattr(p: &Path, name: &str, value: &[u8]) -> bool {
    rustix::fs::lsetxattr(p, name, value, rustix::fs::XattrFlags::empty()).is_ok()
}

fn digest(root: &Path, sources: &[&str]) -> Digest {
    digest_with(root, sources, &StatCache::new()).0
}

/// Files must be older than the stat cache's racy margin before they are cacheable.
fn settle() {
    std::thread::sleep(Duration::from_millis(250));
}

const FILES: &[(&str, &str)] = &[
    ("a.txt", "alpha"),
    ("src/main.rs", "fn main() {}"),
    ("src/lib.rs", ""),
];

#[test]
fn times_do_not_matter() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    write(one.path(), FILES);
    write(two.path(), FILES);
    set_mtime(&two.path().join("a.txt"), 86_400);
    set_mtime(&two.path().join("src"), 3_600);
    assert_eq!(digest(one.path(), &["."]), digest(two.path(), &["."]));
    assert_eq!(
        digest(one.path(), &["src", "a.txt"]),
        digest(two.path(), &["src", "a.txt"])
    );
    let before = digest(one.path(), &["a.txt"]);
    set_mtime(&one.path().join("a.txt"), 7);
    assert_eq!(digest(one.path(), &["a.txt"]), before);
}

#[test]
fn content_mode_links_and_names_matter() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, FILES);
    symlink("a.txt", r.join("link")).unwrap();
    let all = |r: &Path| digest(r, &[".", "link"]);
    let base = all(r);

    fs::write(r.join("a.txt"), "alphA").unwrap(); // one byte
    let changed = all(r);
    assert_ne!(changed, base);
    fs::write(r.join("a.txt"), "alpha").unwrap();
    assert_eq!(all(r), base, "restoring the content restores the digest");

    fs::set_permissions(r.join("src/lib.rs"), fs::Permissions::from_mode(0o755)).unwrap();
    assert_ne!(all(r), base, "mode");
    fs::set_permissions(r.join("src/lib.rs"), fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(all(r), base);

    fs::set_permissions(r.join("src"), fs::Permissions::from_mode(0o700)).unwrap();
    assert_ne!(all(r), base, "a directory's mode inside the selection");
    fs::set_permissions(r.join("src"), fs::Permissions::from_mode(0o755)).unwrap();

    fs::remove_file(r.join("link")).unwrap();
    symlink("src/lib.rs", r.join("link")).unwrap();
    let relinked = digest(r, &["."]);
    fs::remove_file(r.join("link")).unwrap();
    symlink("a.txt", r.join("link")).unwrap();
    assert_ne!(relinked, digest(r, &["."]), "symlink target");

    fs::rename(r.join("src/lib.rs"), r.join("src/lib2.rs")).unwrap();
    assert_ne!(all(r), base, "names");
    fs::rename(r.join("src/lib2.rs"), r.join("src/lib.rs")).unwrap();

    fs::write(r.join("src/new.rs"), "").unwrap();
    assert_ne!(all(r), base, "a new file in a selected directory");
    fs::remove_file(r.join("src/new.rs")).unwrap();
    assert_eq!(all(r), base);

    // Same content under another name is another selection.
    fs::write(r.join("b.txt"), "alpha").unwrap();
    assert_ne!(digest(r, &["a.txt"]), digest(r, &["b.txt"]));
}

#[test]
fn ownership_matters() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), FILES);
    let base = digest(dir.path(), &["."]);
    let p = dir.path().join("a.txt");
    let meta = fs::metadata(&p).unwrap();
    // Changing the owner needs privileges; without them only the group may change, to
    // another group of ours, which may not exist either.
    if std::os::unix::fs::lchown(&p, Some(meta.uid() + 1), Some(meta.gid() + 2)).is_ok() {
        assert_ne!(digest(dir.path(), &["."]), base);
    } else {
        eprintln!("ownership_matters: cannot chown here; checked the unchanged case only");
        assert_eq!(digest(dir.path(), &["."]), base);
    }
}

#[test]
fn excluded_files_do_not_matter() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), FILES);
    let d = |r: &Path| {
        let view = ContextView::open(r, &["*.log", "src/lib.rs"]).unwrap();
        let sel = view.select(&[".".to_string()]).unwrap();
        view.digest(&sel, &StatCache::new()).unwrap()
    };
    let base = d(dir.path());
    fs::write(dir.path().join("build.log"), "noise").unwrap();
    fs::write(dir.path().join("src/lib.rs"), "changed").unwrap();
    assert_eq!(d(dir.path()), base);
}

#[test]
fn a_directory_selection_is_its_contents() {
    // COPY of a directory copies its contents: the directory's own mode is not an input.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), FILES);
    let base = digest(dir.path(), &["src"]);
    fs::set_permissions(dir.path().join("src"), fs::Permissions::from_mode(0o711)).unwrap();
    assert_eq!(digest(dir.path(), &["src"]), base);
}

/// The digest follows the encoding documented in the context::hash module, field by field.
#[test]
fn encoding_matches_the_documented_format() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, &[("d/f", "hello")]);
    symlink("f", r.join("d/l")).unwrap();
    let (uid, gid) = {
        let m = fs::metadata(r.join("d/f")).unwrap();
        (m.uid(), m.gid())
    };
    let dir_mode = fs::metadata(r.join("d")).unwrap().mode() & 0o7777;
    let lmeta = fs::symlink_metadata(r.join("d/l")).unwrap();
    // The file's xattrs as one digest (where this file system has user xattrs).
    let xattrs = if set_xattr(&r.join("d/f"), "user.k", b"v") {
        let mut x = Sha256::new();
        x.update(b"strata.context.xattrs\0");
        x.update(1u64.to_be_bytes());
        x.update([&6u64.to_be_bytes()[..], b"user.k"].concat());
        x.update([&1u64.to_be_bytes()[..], b"v"].concat());
        [&[1u8][..], &x.finalize()[..]].concat()
    } else {
        vec![0]
    };

    let v = ENCODING_VERSION.to_be_bytes();
    let bytes = |b: &[u8]| [&(b.len() as u64).to_be_bytes()[..], b].concat();
    let fields = |kind: u8, perm: u32, uid: u32, gid: u32, tail: &[u8]| -> Vec<u8> {
        [
            &[kind][..],
            &perm.to_be_bytes(),
            &uid.to_be_bytes(),
            &gid.to_be_bytes(),
            tail,
        ]
        .concat()
    };
    let file_tail = [
        &5u64.to_be_bytes()[..],
        &Sha256::digest(b"hello")[..],
        &xattrs,
    ]
    .concat();
    let f = fields(1, 0o644, uid, gid, &file_tail);
    let l = fields(
        3,
        lmeta.mode() & 0o7777,
        lmeta.uid(),
        lmeta.gid(),
        &[&bytes(b"f")[..], &[0]].concat(),
    );
    let d = fields(2, dir_mode, uid, gid, &[0]);

    let mut sel = Sha256::new();
    sel.update(b"strata.context.selection\0");
    sel.update(v);
    sel.update(2u64.to_be_bytes());
    // "d/f": a file, so its node.
    sel.update(bytes(b"d/f"));
    sel.update(&f);
    // ".": a directory, so kind 2 and its contents: d { f, l }.
    sel.update(bytes(b""));
    sel.update([2u8]);
    for part in [
        &[1u8][..],
        &bytes(b"d"),
        &d,
        &[1],
        &bytes(b"f"),
        &f,
        &[1],
        &bytes(b"l"),
        &l,
        &[0],
        &[0],
    ] {
        sel.update(part);
    }
    let want = format!("sha256:{}", hex::encode(sel.finalize()));
    assert_eq!(digest(r, &["d/f", "."]).to_string(), want);
}

/// As BuildKit's content hash: an xattr change alone changes the digest (files and
/// directories), the stat cache remembers a file's xattrs, and a changed xattr (which moves
/// the ctime) makes the file be read again.
#[test]
fn xattrs_matter_and_are_cached() {
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache_path = cache_dir.path().join("statcache");
    write(dir.path(), FILES);
    if !set_xattr(&dir.path().join("a.txt"), "user.note", b"1") {
        eprintln!("skipping: no user xattrs here");
        return;
    }
    settle();
    let cold = StatCache::load(&cache_path);
    let (d0, _) = digest_with(dir.path(), &["."], &cold);
    cold.save(&cache_path).unwrap();
    let warm = StatCache::load(&cache_path);
    let (d1, s) = digest_with(dir.path(), &["."], &warm);
    assert_eq!((d1, s.files_hashed), (d0, 0));

    assert!(set_xattr(&dir.path().join("a.txt"), "user.note", b"2"));
    let (d2, s) = digest_with(dir.path(), &["."], &warm);
    assert_ne!(d2, d0);
    assert_eq!(s.files_hashed, 1, "only the changed file is read again");
    assert_eq!(digest(dir.path(), &["."]), d2, "cached = computed");

    assert!(set_xattr(&dir.path().join("src"), "user.dir", b"d"));
    assert_ne!(digest(dir.path(), &["."]), d2);
}

#[test]
fn stat_cache_hits_and_touch() {
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache_path = cache_dir.path().join("strata/v1/statcache");
    let files: Vec<(String, String)> = (0..50)
        .map(|i| (format!("d{}/f{i}", i % 5), format!("content {i}")))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    write(dir.path(), &refs);
    settle();

    let cold = StatCache::load(&cache_path);
    assert_eq!(cold.status(), &LoadStatus::Empty);
    let (d0, s) = digest_with(dir.path(), &["."], &cold);
    assert_eq!((s.files_hashed, s.files_reused), (50, 0));
    assert_eq!(
        s.bytes_hashed,
        files.iter().map(|(_, c)| c.len() as u64).sum::<u64>()
    );
    cold.save(&cache_path).unwrap();

    let warm = StatCache::load(&cache_path);
    assert_eq!(warm.status(), &LoadStatus::Loaded(50));
    let (d1, s) = digest_with(dir.path(), &["."], &warm);
    assert_eq!(d1, d0);
    assert_eq!((s.files_hashed, s.files_reused), (0, 50));

    // One byte changed (same size): only that file is read again.
    fs::write(dir.path().join("d3/f13"), "content X3").unwrap();
    let (d2, s) = digest_with(dir.path(), &["."], &warm);
    assert_ne!(d2, d0);
    assert_eq!((s.files_hashed, s.files_reused), (1, 49));

    // Touching without changing: ctime moves, the file is read again, same digest.
    fs::write(dir.path().join("d3/f13"), "content 13").unwrap();
    settle();
    let (d3, _) = digest_with(dir.path(), &["."], &warm);
    assert_eq!(d3, d0);
    let f7 = dir.path().join("d2/f7");
    File::options()
        .write(true)
        .open(&f7)
        .unwrap()
        .set_times(FileTimes::new().set_modified(SystemTime::now()))
        .unwrap();
    let (d4, s) = digest_with(dir.path(), &["."], &warm);
    assert_eq!(d4, d0);
    assert_eq!((s.files_hashed, s.files_reused), (1, 49));

    // A selection of a part reads only that part.
    let (_, s) = digest_with(dir.path(), &["d1"], &StatCache::new());
    assert_eq!(s.files_hashed, 10);
    let view = ContextView::open(dir.path(), &[] as &[&str]).unwrap();
    let sel = view
        .select(&["d1".to_string(), "d1/f1".to_string()])
        .unwrap();
    view.digest(&sel, &warm).unwrap();
    view.digest(&sel, &warm).unwrap();
    assert_eq!(
        view.hash_stats().files_hashed + view.hash_stats().files_reused,
        10,
        "memoized per view"
    );
}

#[test]
fn recently_changed_files_are_not_cached() {
    // A file changed within the timestamp granularity could change again unnoticed, so its
    // digest is not remembered (git's "racy clean" rule).
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), FILES);
    let cache = StatCache::new();
    let (_, s) = digest_with(dir.path(), &["."], &cache);
    assert_eq!(s.files_hashed, 3);
    let (_, s) = digest_with(dir.path(), &["."], &cache);
    assert_eq!((s.files_hashed, s.files_reused), (3, 0));
    settle();
    digest_with(dir.path(), &["."], &cache);
    let (_, s) = digest_with(dir.path(), &["."], &cache);
    assert_eq!((s.files_hashed, s.files_reused), (0, 3));
}

#[test]
fn damaged_or_old_caches_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), FILES);
    settle();
    let cache_dir = tempfile::tempdir().unwrap();
    let path = cache_dir.path().join("statcache");
    let cache = StatCache::new();
    let (d0, _) = digest_with(dir.path(), &["."], &cache);
    cache.save(&path).unwrap();
    let good = fs::read(&path).unwrap();
    assert!(matches!(
        StatCache::load(&path).status(),
        LoadStatus::Loaded(3)
    ));

    let variants: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"not a cache at all".to_vec()),
        ("empty", Vec::new()),
        ("truncated", good[..good.len() - 7].to_vec()),
        ("flipped", {
            let mut b = good.clone();
            let mid = b.len() / 2;
            b[mid] ^= 0x40;
            b
        }),
        ("old version", {
            let mut b = good.clone();
            b[17] = 0; // the u32 version follows the 17-byte magic
            b
        }),
        ("trailing data", [good.clone(), b"x".to_vec()].concat()),
    ];
    for (what, bytes) in variants {
        fs::write(&path, bytes).unwrap();
        let c = StatCache::load(&path);
        assert!(
            matches!(c.status(), LoadStatus::Ignored(_)),
            "{what}: {:?}",
            c.status()
        );
        assert!(c.is_empty(), "{what}");
        let (d, s) = digest_with(dir.path(), &["."], &c);
        assert_eq!((d, s.files_hashed), (d0, 3), "{what}");
        // The next save replaces the bad file with a good one.
        c.save(&path).unwrap();
        assert!(
            matches!(StatCache::load(&path).status(), LoadStatus::Loaded(3)),
            "{what}"
        );
    }
}

#[test]
fn save_is_atomic_and_prunes_deleted_files() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), FILES);
    settle();
    let cache_dir = tempfile::tempdir().unwrap();
    let path = cache_dir.path().join("nested/dir/statcache");
    let cache = StatCache::new();
    digest_with(dir.path(), &["."], &cache);
    cache.save(&path).unwrap();
    let names: Vec<_> = fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["statcache"], "no temporary file is left behind");

    fs::remove_file(dir.path().join("a.txt")).unwrap();
    let cache = StatCache::load(&path);
    digest_with(dir.path(), &["."], &cache);
    cache.save(&path).unwrap();
    assert_eq!(StatCache::load(&path).status(), &LoadStatus::Loaded(2));

    // Records of another context survive a save for this one.
    let other = tempfile::tempdir().unwrap();
    write(other.path(), &[("x", "1")]);
    settle();
    let cache = StatCache::load(&path);
    digest_with(other.path(), &["."], &cache);
    cache.save(&path).unwrap();
    assert_eq!(StatCache::load(&path).status(), &LoadStatus::Loaded(3));

    // An unwritable location is an error naming it.
    let err = cache.save(Path::new("/proc/strata-statcache")).unwrap_err();
    assert!(err.to_string().contains("/proc"), "{err}");
}

#[test]
fn a_file_replaced_after_the_walk_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), FILES);
    let view = ContextView::open(dir.path(), &[] as &[&str]).unwrap();
    let sel = view.select(&["a.txt".to_string()]).unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), "s").unwrap();
    fs::remove_file(dir.path().join("a.txt")).unwrap();
    symlink(outside.path().join("secret"), dir.path().join("a.txt")).unwrap();
    let err = view.digest(&sel, &StatCache::new()).unwrap_err();
    assert!(matches!(err, ContextError::Changed { .. }), "{err}");
}

#[test]
fn large_files_are_streamed() {
    // 40 MiB of content hashes like any other file (through a fixed-size buffer).
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big");
    let chunk = vec![0x5au8; 1 << 20];
    {
        use std::io::Write;
        let mut f = File::create(&p).unwrap();
        for _ in 0..40 {
            f.write_all(&chunk).unwrap();
        }
    }
    let (d, s) = digest_with(dir.path(), &["big"], &StatCache::new());
    assert_eq!(s.bytes_hashed, 40 << 20);
    assert_eq!(digest_with(dir.path(), &["big"], &StatCache::new()).0, d);
}
