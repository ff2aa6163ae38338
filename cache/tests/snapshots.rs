//! Snapshots: atomic, idempotent creation; one extraction among concurrent creators
//! (threads and processes); crashed creations are garbage; GC keeps what images, cache
//! records and leases need.
//!
//! The multi-process tests re-run this test binary with `--exact child` and the
//! `STRATA_SNAP_CHILD` environment variable set; without it `child` does nothing.

mod common;

use common::{name, put_image};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;
use strata_cache::{CacheKey, CacheRecord, Digest, Error, GcOptions, Store};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    (dir, store)
}

/// A caller's error type, as the builder would have.
#[derive(Debug)]
enum FillError {
    Store(Error),
    Extract(&'static str),
}

impl From<Error> for FillError {
    fn from(e: Error) -> FillError {
        FillError::Store(e)
    }
}

/// Stands in for unpacking a layer: a few files, a directory, a symlink.
fn fill_tree(dir: &Path, tag: &str) -> Result<(), FillError> {
    fs::create_dir(dir.join("etc")).unwrap();
    fs::write(dir.join("etc/os-release"), format!("ID={tag}\n")).unwrap();
    fs::write(dir.join("hello"), b"hello\n").unwrap();
    std::os::unix::fs::symlink("hello", dir.join("link")).unwrap();
    Ok(())
}

fn diff(s: &str) -> Digest {
    Digest::of_bytes(s.as_bytes())
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn create_is_atomic_and_idempotent() {
    let (_dir, store) = store();
    let d = diff("layer a");
    assert_eq!(store.snapshot(&d).unwrap(), None);
    let calls = AtomicUsize::new(0);
    let path = store
        .create_snapshot(&d, |tmp| {
            calls.fetch_add(1, Ordering::SeqCst);
            // Not visible under its final name while being filled.
            assert_eq!(store.snapshot(&d).unwrap(), None);
            assert!(tmp.starts_with(store.snapshots_dir()));
            assert!(entries(tmp).is_empty());
            fill_tree(tmp, "a")
        })
        .unwrap();
    assert_eq!(store.snapshot(&d).unwrap().as_ref(), Some(&path));
    // The tree is exactly the layer: no marker or other bookkeeping inside.
    assert_eq!(entries(&path), ["etc", "hello", "link"]);
    assert_eq!(fs::read(path.join("hello")).unwrap(), b"hello\n");

    let again = store
        .create_snapshot(&d, |_| -> Result<(), FillError> {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
    assert_eq!(again, path);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    let listed = store.snapshots().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].diff_id, d);
    assert_eq!(listed[0].path, path);
    // Only the snapshot itself in snapshots/: no temp dirs left.
    assert_eq!(entries(&store.snapshots_dir()), [d.hex()]);
    // Other host users must not reach setuid binaries in the trees.
    let mode = fs::metadata(store.snapshots_dir())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "snapshots/ is {mode:o}");
}

#[test]
fn fill_may_rename_a_directory_into_place() {
    let (dir, store) = store();
    // Like a RUN step's upper dir, on the same file system as the store.
    let upper = store.metadata_dir().join("upper-of-a-step");
    fs::create_dir(&upper).unwrap();
    fs::write(upper.join("built"), b"output").unwrap();
    let d = diff("upper");
    let path = store
        .create_snapshot(&d, |tmp| -> Result<(), FillError> {
            fs::remove_dir(tmp).unwrap();
            fs::rename(&upper, tmp).unwrap();
            Ok(())
        })
        .unwrap();
    assert_eq!(fs::read(path.join("built")).unwrap(), b"output");
    drop(dir);
}

#[test]
fn fill_that_leaves_no_directory_is_refused() {
    let (_dir, store) = store();
    let d = diff("gone");
    let err = store
        .create_snapshot(&d, |tmp| -> Result<(), FillError> {
            fs::remove_dir(tmp).unwrap();
            Ok(())
        })
        .unwrap_err();
    assert!(
        matches!(err, FillError::Store(Error::Snapshot { .. })),
        "{err:?}"
    );
    assert_eq!(store.snapshot(&d).unwrap(), None);
    assert!(entries(&store.snapshots_dir()).is_empty());
}

#[test]
fn failed_or_panicking_fill_leaves_nothing() {
    let (_dir, store) = store();
    let d = diff("broken layer");
    let err = store
        .create_snapshot(&d, |tmp| {
            fill_tree(tmp, "x")?;
            // A read-only dir in the partial tree must not stop the cleanup.
            fs::set_permissions(tmp.join("etc"), fs::Permissions::from_mode(0o555)).unwrap();
            Err(FillError::Extract("truncated tar"))
        })
        .unwrap_err();
    assert!(
        matches!(err, FillError::Extract("truncated tar")),
        "{err:?}"
    );
    assert_eq!(store.snapshot(&d).unwrap(), None);
    assert!(entries(&store.snapshots_dir()).is_empty());

    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.create_snapshot(&d, |tmp| -> Result<(), FillError> {
            fill_tree(tmp, "x")?;
            panic!("extractor bug");
        })
    }));
    assert!(panicked.is_err());
    assert_eq!(store.snapshot(&d).unwrap(), None);
    assert!(entries(&store.snapshots_dir()).is_empty());
    // The per-layer lock was released: a later creation works.
    let path = store
        .create_snapshot(&d, |tmp| fill_tree(tmp, "ok"))
        .unwrap();
    assert!(path.join("hello").exists());
    assert!(store.check(false).unwrap().is_consistent());
}

#[test]
fn eight_threads_extract_once() {
    let (_dir, store) = store();
    let d = diff("shared base layer");
    let calls = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (store, calls, barrier) = (store.clone(), calls.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                store
                    .create_snapshot(&d, |tmp| {
                        calls.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(200));
                        fill_tree(tmp, "shared")
                    })
                    .unwrap()
            })
        })
        .collect();
    let paths: Vec<PathBuf> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(paths.iter().all(|p| *p == paths[0]));
    assert_eq!(entries(&store.snapshots_dir()), [d.hex()]);
}

/// The body of a child process; a no-op when run as an ordinary test.
#[test]
fn child() {
    let Ok(mode) = std::env::var("STRATA_SNAP_CHILD") else {
        return;
    };
    let root = std::env::var("STRATA_SNAP_ROOT").unwrap();
    let store = Store::open(&root).unwrap();
    let d = diff(&std::env::var("STRATA_SNAP_LAYER").unwrap());
    match mode.as_str() {
        "create" => {
            let log = std::env::var("STRATA_SNAP_LOG").unwrap();
            let path = store
                .create_snapshot(&d, |tmp| {
                    // O_APPEND: one line per extraction, whichever process did it.
                    let mut f = fs::OpenOptions::new().append(true).open(&log).unwrap();
                    writeln!(f, "{}", std::process::id()).unwrap();
                    std::thread::sleep(Duration::from_millis(300));
                    fill_tree(tmp, "proc")
                })
                .unwrap();
            assert!(path.join("etc/os-release").exists());
        }
        "crash" => {
            let _ = store.create_snapshot(&d, |tmp| -> Result<(), FillError> {
                fill_tree(tmp, "crash")?;
                fs::set_permissions(tmp.join("etc"), fs::Permissions::from_mode(0o500)).unwrap();
                // Dies mid-extraction holding its lease and the layer lock.
                std::process::abort();
            });
        }
        other => panic!("unknown child mode {other}"),
    }
}

fn spawn_child(root: &Path, mode: &str, layer: &str, log: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env("STRATA_SNAP_CHILD", mode)
        .env("STRATA_SNAP_ROOT", root)
        .env("STRATA_SNAP_LAYER", layer)
        .env("STRATA_SNAP_LOG", log)
        .env("RUST_BACKTRACE", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn four_processes_extract_once() {
    let (dir, store) = store();
    let log = dir.path().join("extractions");
    fs::write(&log, b"").unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| spawn_child(store.root(), "create", "multi-process layer", &log))
        .collect();
    for mut c in children {
        let status = c.wait().unwrap();
        assert!(status.success(), "child failed: {status}");
    }
    let lines = fs::read_to_string(&log).unwrap();
    assert_eq!(lines.lines().count(), 1, "extracted by: {lines}");
    let d = diff("multi-process layer");
    assert!(store.snapshot(&d).unwrap().is_some());
    assert_eq!(entries(&store.snapshots_dir()), [d.hex()]);
}

#[test]
fn crashed_creation_is_garbage_that_check_removes() {
    let (dir, store) = store();
    let log = dir.path().join("unused");
    let status = spawn_child(store.root(), "crash", "crash layer", &log)
        .wait()
        .unwrap();
    assert!(!status.success());
    let d = diff("crash layer");
    assert_eq!(store.snapshot(&d).unwrap(), None);

    // Also: a removal that died halfway, and a snapshot dir that lost its marker.
    let del = store.snapshots_dir().join(".del-0123456789abcdef");
    fs::create_dir_all(del.join("fs/deep")).unwrap();
    fs::set_permissions(del.join("fs"), fs::Permissions::from_mode(0o000)).unwrap();
    let incomplete = store.snapshots_dir().join(diff("no marker").hex());
    fs::create_dir_all(incomplete.join("fs/usr")).unwrap();
    // Snapshots are not fsynced: after a crash the rename may have reached the disk but
    // not the marker's bytes (empty), or only some of them.
    let good = store
        .create_snapshot(&diff("torn"), |tmp| fill_tree(tmp, "torn"))
        .unwrap();
    let marker = good.parent().unwrap().join("snapshot.json");
    let text = fs::read(&marker).unwrap();
    let torn = store.snapshots_dir().join(diff("torn").hex());
    fs::write(&marker, &text[..text.len() / 2]).unwrap();
    let empty = store.snapshots_dir().join(diff("empty marker").hex());
    fs::create_dir_all(empty.join("fs/usr")).unwrap();
    fs::write(empty.join("snapshot.json"), b"").unwrap();
    assert_eq!(store.snapshot(&diff("no marker")).unwrap(), None);

    let report = store.check(false).unwrap();
    assert!(report.is_consistent(), "{report:#?}");
    assert!(report.has_garbage());
    assert_eq!(report.snapshot_garbage.len(), 5, "{report:#?}");
    assert!(report.snapshot_garbage.contains(&del));
    assert!(report.snapshot_garbage.contains(&incomplete));
    assert!(report.snapshot_garbage.contains(&torn));
    assert!(report.snapshot_garbage.contains(&empty));
    assert_eq!(report.snapshots_checked, 0);

    let report = store.check(true).unwrap();
    assert_eq!(report.repaired.unwrap().files_removed.len(), 5);
    assert!(store.check(false).unwrap().is_clean());
    assert!(entries(&store.snapshots_dir()).is_empty());
    // The dead process's layer lock is gone with it.
    store
        .create_snapshot(&d, |tmp| fill_tree(tmp, "retry"))
        .unwrap();
}

#[test]
fn gc_removes_unreferenced_keeps_referenced_and_leased() {
    let (_dir, store) = store();
    let lease = store.lease().unwrap();
    // put_image uses the layers' contents as uncompressed tars: diffID = blob digest.
    let image = put_image(&store, "img", &[b"image layer"]);
    store.tag(&name("img:1"), &image).unwrap();
    let in_image = Digest::of_bytes(b"image layer");
    let (cached_blob, cached_size) = store.put_bytes(b"cached layer", None).unwrap();
    let in_cache = cached_blob;
    let loose = diff("nobody lists me");
    for (d, tag) in [(in_image, "i"), (in_cache, "c"), (loose, "l")] {
        store
            .create_snapshot(&d, |tmp| fill_tree(tmp, tag))
            .unwrap();
    }
    let mut record = CacheRecord::new(CacheKey::new(diff("key")), "RUN make");
    record.layer = Some(strata_cache::Descriptor::new(
        strata_cache::oci::media_type::OCI_LAYER_TAR,
        cached_blob,
        cached_size,
    ));
    record.diff_id = Some(in_cache);
    store.cache_put(&record).unwrap();

    // While a build holds its lease, GC waits: nothing is removed under it.
    let done = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let gc = {
        let (store, done) = (store.clone(), done.clone());
        std::thread::spawn(move || {
            let report = store.gc(&GcOptions::default()).unwrap();
            done.store(true, Ordering::SeqCst);
            tx.send(report).unwrap();
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(!done.load(Ordering::SeqCst));
    assert!(store.snapshot(&loose).unwrap().is_some());
    drop(lease);
    let report = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    gc.join().unwrap();

    assert_eq!(report.snapshots_removed.len(), 1, "{report:#?}");
    assert_eq!(report.snapshots_removed[0].0, loose);
    assert!(report.snapshot_bytes_freed > 0);
    assert_eq!(report.snapshots_kept, 2);
    assert!(store.snapshot(&loose).unwrap().is_none());
    assert!(store.snapshot(&in_image).unwrap().is_some());
    assert!(store.snapshot(&in_cache).unwrap().is_some());
    assert!(store.check(false).unwrap().is_clean());

    // Untagging the image frees its snapshot at the next GC.
    store.untag(&name("img:1")).unwrap();
    store.update_index(|c| Ok(c.remove_dangling())).unwrap();
    let report = store.gc(&GcOptions::default()).unwrap();
    assert_eq!(report.snapshots_removed.len(), 1);
    assert!(store.snapshot(&in_image).unwrap().is_none());
    assert!(store.snapshot(&in_cache).unwrap().is_some());
}

#[test]
fn gc_min_age_and_dry_run_keep_snapshots() {
    let (_dir, store) = store();
    let d = diff("young");
    store
        .create_snapshot(&d, |tmp| fill_tree(tmp, "y"))
        .unwrap();
    let report = store
        .gc(&GcOptions {
            min_age: Some(Duration::from_secs(3600)),
            ..GcOptions::default()
        })
        .unwrap();
    assert_eq!(report.snapshots_kept, 1);
    let report = store
        .gc(&GcOptions {
            dry_run: true,
            ..GcOptions::default()
        })
        .unwrap();
    assert_eq!(report.snapshots_removed.len(), 1);
    assert!(store.snapshot(&d).unwrap().is_some());
    store.gc(&GcOptions::default()).unwrap();
    assert!(store.snapshot(&d).unwrap().is_none());
}

#[test]
fn read_only_trees_are_removed() {
    let (_dir, store) = store();
    let d = diff("read-only layer");
    store
        .create_snapshot(&d, |tmp| -> Result<(), FillError> {
            fs::create_dir_all(tmp.join("a/b/c")).unwrap();
            fs::write(tmp.join("a/b/c/file"), b"x").unwrap();
            fs::write(tmp.join("a/ro-file"), b"x").unwrap();
            fs::set_permissions(tmp.join("a/ro-file"), fs::Permissions::from_mode(0o400)).unwrap();
            fs::set_permissions(tmp.join("a/b/c"), fs::Permissions::from_mode(0o000)).unwrap();
            fs::set_permissions(tmp.join("a/b"), fs::Permissions::from_mode(0o555)).unwrap();
            fs::set_permissions(tmp.join("a"), fs::Permissions::from_mode(0o500)).unwrap();
            fs::set_permissions(tmp, fs::Permissions::from_mode(0o555)).unwrap();
            Ok(())
        })
        .unwrap();
    let report = store.gc(&GcOptions::default()).unwrap();
    assert_eq!(report.snapshots_removed.len(), 1);
    assert!(entries(&store.snapshots_dir()).is_empty());
}

#[test]
fn unreadable_config_keeps_every_snapshot() {
    let (_dir, store) = store();
    let lease = store.lease().unwrap();
    let image = put_image(&store, "img", &[b"layer"]);
    store.tag(&name("img:1"), &image).unwrap();
    drop(lease);
    let config = store.manifest(&image.digest).unwrap().config.digest;
    let loose = diff("unknown to all");
    store
        .create_snapshot(&loose, |tmp| fill_tree(tmp, "u"))
        .unwrap();
    // Damage the config: its diffIDs can no longer be read.
    let path = store.blob_path(&config);
    let len = fs::metadata(&path).unwrap().len() as usize;
    fs::write(&path, vec![b'x'; len]).unwrap();
    let report = store.gc(&GcOptions::default()).unwrap();
    assert!(report.snapshots_removed.is_empty());
    assert!(store.snapshot(&loose).unwrap().is_some());
    let report = store.check(false).unwrap();
    assert!(report.unreferenced_snapshots.is_empty(), "{report:#?}");
}

#[test]
fn check_reports_unreferenced_snapshots_and_disk_usage_counts_them() {
    let (_dir, store) = store();
    let d = diff("orphan");
    store
        .create_snapshot(&d, |tmp| fill_tree(tmp, "o"))
        .unwrap();
    let usage = store.disk_usage().unwrap();
    assert_eq!(usage.snapshots, 1);
    assert!(usage.snapshot_bytes > 0);
    assert_eq!(usage.unreferenced_snapshot_bytes, usage.snapshot_bytes);
    assert!(usage.reclaimable_bytes() >= usage.snapshot_bytes);

    let report = store.check(false).unwrap();
    assert!(report.is_consistent());
    assert_eq!(report.snapshots_checked, 1);
    assert_eq!(report.unreferenced_snapshots, vec![d]);
    assert!(report.has_garbage());
    store.check(true).unwrap();
    assert!(store.snapshot(&d).unwrap().is_none());
    assert!(store.check(false).unwrap().is_clean());
    assert_eq!(store.disk_usage().unwrap().snapshot_bytes, 0);
}

#[test]
fn creators_and_gc_interleave_safely() {
    let (_dir, store) = store();
    let layers: Arc<Vec<(Digest, AtomicUsize)>> = Arc::new(
        (0..3)
            .map(|i| (diff(&format!("stress {i}")), AtomicUsize::new(0)))
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let gc = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut runs = 0;
            while !stop.load(Ordering::SeqCst) {
                store.gc(&GcOptions::default()).unwrap();
                runs += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            runs
        })
    };
    let creators: Vec<_> = (0..4)
        .map(|t| {
            let (store, layers) = (store.clone(), layers.clone());
            std::thread::spawn(move || {
                for i in 0..30 {
                    let (d, in_flight) = &layers[(t + i) % layers.len()];
                    let _lease = store.lease().unwrap();
                    let path = store
                        .create_snapshot(d, |tmp| {
                            // Never two fills of one layer at once.
                            assert_eq!(in_flight.fetch_add(1, Ordering::SeqCst), 0);
                            let r = fill_tree(tmp, "stress");
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            r
                        })
                        .unwrap();
                    // Under the lease, GC cannot take it away.
                    std::thread::sleep(Duration::from_millis(1));
                    assert_eq!(fs::read(path.join("hello")).unwrap(), b"hello\n");
                }
            })
        })
        .collect();
    for c in creators {
        c.join().unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    assert!(gc.join().unwrap() > 0);
    store.gc(&GcOptions::default()).unwrap();
    assert!(entries(&store.snapshots_dir()).is_empty());
    assert!(store.check(false).unwrap().is_clean());
}
