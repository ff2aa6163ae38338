//! Many threads and many processes on one store: put, tag, untag, prune, gc at once.
//!
//! The multi-process tests re-run this test binary with `--exact child_worker` and the
//! `STRATA_CACHE_CHILD` environment variable set; without it `child_worker` does nothing.

mod common;

use common::put_image;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use strata_cache::{Error, GcOptions, Store};

/// Names every worker fights over, so tags move between images of different workers.
const SHARED_NAMES: usize = 6;

fn shared_name(k: usize) -> String {
    format!("docker.io/library/shared:{k}")
}

/// One worker's random sequence of store operations. Asserts, as it goes, that an image
/// resolved under a lease is fully readable (GC can't run in between).
fn worker(root: &Path, id: &str, iterations: usize, seed: u64) {
    let store = Store::open(root).unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    for i in 0..iterations {
        match rng.gen_range(0..10) {
            0..=3 => {
                let lease = store.lease().unwrap();
                let unique = format!("{id}-{i}");
                let layers: [&[u8]; 2] = [b"common base layer", unique.as_bytes()];
                let img = put_image(&store, &unique, &layers);
                let own = format!("docker.io/{id}/img:{i}");
                store
                    .update_index(|c| {
                        c.tag(&own, &img)?;
                        c.tag(&shared_name(rng.gen_range(0..SHARED_NAMES)), &img)
                    })
                    .unwrap();
                drop(lease);
            }
            4 | 5 => {
                let name = shared_name(rng.gen_range(0..SHARED_NAMES));
                match store.untag(&name) {
                    Ok(_) | Err(Error::NameNotFound(_)) => {}
                    Err(e) => panic!("untag {name}: {e}"),
                }
            }
            6 => {
                store.update_index(|c| Ok(c.remove_dangling())).unwrap();
            }
            7 => {
                store.gc(&GcOptions::default()).unwrap();
            }
            _ => {
                let _lease = store.lease().unwrap();
                let name = shared_name(rng.gen_range(0..SHARED_NAMES));
                if let Some(desc) = store.resolve(&name).unwrap() {
                    let m = store.manifest(&desc.digest).unwrap();
                    store.config(&m).unwrap();
                    for l in &m.layers {
                        assert!(store.has_blob(&l.digest).unwrap(), "{name}: layer gone");
                    }
                }
            }
        }
    }
}

/// Every name resolves to a complete image, GC leaves a clean store.
fn assert_consistent(root: &Path) {
    let store = Store::open(root).unwrap();
    store.gc(&GcOptions::default()).unwrap();
    let images = store.images().unwrap();
    let mut seen_names = std::collections::BTreeSet::new();
    for image in &images {
        for name in &image.names {
            assert!(seen_names.insert(name.clone()), "{name} appears twice");
            assert_eq!(
                store.resolve(name).unwrap().as_ref(),
                Some(&image.descriptor)
            );
        }
        let m = store.manifest(image.digest()).unwrap();
        store.config(&m).unwrap();
        for l in &m.layers {
            assert!(store.has_blob(&l.digest).unwrap());
        }
    }
    let report = store.check(false).unwrap();
    assert!(report.is_clean(), "{report:#?}");
    assert!(images.iter().any(|i| !i.names.is_empty()));
}

#[test]
fn eight_threads_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let root = root.clone();
            std::thread::spawn(move || worker(&root, &format!("t{t}"), 60, 1000 + t))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_consistent(&root);
}

/// The body of a child process; a no-op when run as an ordinary test.
#[test]
fn child_worker() {
    let Ok(mode) = std::env::var("STRATA_CACHE_CHILD") else {
        return;
    };
    let root = std::env::var("STRATA_CACHE_ROOT").unwrap();
    let id = std::env::var("STRATA_CACHE_ID").unwrap();
    match mode.as_str() {
        "work" => {
            let seed: u64 = id.trim_start_matches('p').parse().unwrap();
            // Two threads per process, so processes and threads mix.
            let a = {
                let (root, id) = (root.clone(), id.clone());
                std::thread::spawn(move || worker(Path::new(&root), &format!("{id}a"), 25, seed))
            };
            worker(Path::new(&root), &format!("{id}b"), 25, seed + 500);
            a.join().unwrap();
        }
        "crash" => {
            let store = Store::open(&root).unwrap();
            let _lease = store.lease().unwrap();
            put_image(&store, "about to crash", &[b"layer of a crashed command"]);
            let mut w = store.blob_writer().unwrap();
            w.write_all(&[1u8; 100_000]).unwrap();
            w.flush().unwrap();
            // Die holding the lease, a writer and its temp file: no destructor runs.
            std::process::abort();
        }
        other => panic!("unknown child mode {other}"),
    }
}

fn spawn_child(root: &Path, mode: &str, id: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_worker", "--nocapture", "--test-threads=1"])
        .env("STRATA_CACHE_CHILD", mode)
        .env("STRATA_CACHE_ROOT", root)
        .env("STRATA_CACHE_ID", id)
        .env("RUST_BACKTRACE", "1")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn four_processes_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let children: Vec<_> = (0..4)
        .map(|p| spawn_child(&root, "work", &format!("p{p}")))
        .collect();
    // The parent works too, concurrently with the children.
    worker(&root, "parent", 25, 99);
    for mut c in children {
        let status = c.wait().unwrap();
        assert!(status.success(), "child failed: {status}");
    }
    assert_consistent(&root);
}

#[test]
fn killed_process_leaves_only_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = Store::open(&root).unwrap();
    let status = spawn_child(&root, "crash", "c").wait().unwrap();
    assert!(!status.success());
    // The kernel released the dead process's lease, so check does not block.
    let report = store.check(false).unwrap();
    assert!(report.is_consistent(), "{report:#?}");
    assert_eq!(report.temp_files.len(), 1, "{report:#?}");
    assert_eq!(report.unreferenced.len(), 3, "{report:#?}");
    assert!(store.images().unwrap().is_empty());
    let report = store.check(true).unwrap();
    assert_eq!(report.repaired.unwrap().files_removed.len(), 4);
    assert!(store.check(false).unwrap().is_clean());
    assert!(store.list_blobs().unwrap().is_empty());
}
