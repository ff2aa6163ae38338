//! Garbage collection, leases, check and repair, disk usage.

mod common;

use common::{closure, name, put_image, tmp_count};
use std::fs;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use strata_cache::oci::{media_type, ImageIndex, Platform};
use strata_cache::{Descriptor, Digest, Error, GcOptions, Store};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

#[test]
fn gc_removes_only_unreachable_blobs() {
    let (_dir, store) = store();
    let lease = store.lease().unwrap();
    let a = put_image(&store, "a", &[b"shared", b"only-a"]);
    let b = put_image(&store, "b", &[b"shared", b"only-b"]);
    store.tag(&name("a:1"), &a).unwrap();
    store.tag(&name("b:1"), &b).unwrap();
    let (loose, loose_size) = store.put_bytes(b"nobody refers to me", None).unwrap();
    let (kept, _) = store.put_bytes(b"build cache layer", None).unwrap();
    fs::write(
        store.roots_dir().join("build-cache"),
        format!("# kept by the build cache\n{kept}\n\nnot a digest\n"),
    )
    .unwrap();
    drop(lease);

    let dry = store
        .gc(&GcOptions {
            dry_run: true,
            ..GcOptions::default()
        })
        .unwrap();
    assert_eq!(dry.removed, vec![(loose, loose_size)]);
    assert!(store.has_blob(&loose).unwrap());

    let report = store.gc(&GcOptions::default()).unwrap();
    assert_eq!(report.removed, vec![(loose, loose_size)]);
    assert_eq!(report.bytes_freed, loose_size);
    assert!(!store.has_blob(&loose).unwrap());
    assert!(store.has_blob(&kept).unwrap());

    // Removing b frees its config, manifest and own layer, not the shared layer.
    store.remove_image(&b.digest).unwrap();
    let report = store.gc(&GcOptions::default()).unwrap();
    assert_eq!(report.blobs_removed(), 3);
    for d in closure(&store, &a) {
        assert!(store.has_blob(&d).unwrap());
    }
    assert!(!store.has_blob(&b.digest).unwrap());
    assert!(store.check(false).unwrap().is_clean());
}

#[test]
fn gc_min_age_keeps_young_blobs() {
    let (_dir, store) = store();
    let (d, _) = store.put_bytes(b"fresh", None).unwrap();
    let report = store
        .gc(&GcOptions {
            min_age: Some(Duration::from_secs(3600)),
            ..GcOptions::default()
        })
        .unwrap();
    assert_eq!(report.kept_young, 1);
    assert!(store.has_blob(&d).unwrap());
    store.gc(&GcOptions::default()).unwrap();
    assert!(!store.has_blob(&d).unwrap());
}

#[test]
fn gc_follows_nested_indexes() {
    let (_dir, store) = store();
    let lease = store.lease().unwrap();
    let amd = put_image(&store, "amd64", &[b"amd"]);
    let arm = put_image(&store, "arm64", &[b"arm"]);
    let mut idx = ImageIndex::default();
    for (mut d, arch) in [(amd.clone(), "amd64"), (arm.clone(), "arm64")] {
        d.platform = Some(Platform {
            architecture: arch.into(),
            os: "linux".into(),
            ..Platform::default()
        });
        idx.manifests.push(d);
    }
    // A platform that was never pulled.
    idx.manifests.push(Descriptor::new(
        media_type::OCI_MANIFEST,
        Digest::of_bytes(b"s390x manifest"),
        10,
    ));
    let (id, isz) = store.put_json(&idx).unwrap();
    let top = Descriptor::new(media_type::OCI_INDEX, id, isz);
    store.tag(&name("multi:latest"), &top).unwrap();
    drop(lease);

    let report = store.gc(&GcOptions::default()).unwrap();
    assert!(report.removed.is_empty());
    for d in closure(&store, &amd)
        .into_iter()
        .chain(closure(&store, &arm))
    {
        assert!(store.has_blob(&d).unwrap());
    }
    assert_eq!(store.image_id(&top).unwrap(), id);
    let check = store.check(false).unwrap();
    assert!(check.is_clean(), "{check:?}");
    assert_eq!(check.absent_platforms.len(), 1);
    assert_eq!(check.absent_platforms[0].referenced_by, Some(id));
}

/// A blob written under a lease and not yet referenced survives a concurrent GC: the GC waits
/// for the lease, and by then the blob is tagged.
#[test]
fn gc_waits_for_leases() {
    let (_dir, store) = store();
    let tagged = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel();

    let writer = {
        let store = store.clone();
        let tagged = tagged.clone();
        std::thread::spawn(move || {
            let lease = store.lease().unwrap();
            let img = put_image(&store, "leased", &[b"precious layer"]);
            ready_tx.send(img.clone()).unwrap();
            // Give the GC every chance to run early.
            std::thread::sleep(Duration::from_millis(300));
            store.tag(&name("leased:1"), &img).unwrap();
            tagged.store(true, Ordering::SeqCst);
            drop(lease);
            img
        })
    };
    let img = ready_rx.recv().unwrap();
    let started = Instant::now();
    let report = store.gc(&GcOptions::default()).unwrap();
    assert!(
        tagged.load(Ordering::SeqCst),
        "gc finished before the lease ended"
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(report.removed.is_empty(), "{report:?}");
    writer.join().unwrap();
    for d in closure(&store, &img) {
        assert!(store.has_blob(&d).unwrap(), "{d} was collected");
    }
    assert!(store.check(false).unwrap().is_clean());
}

#[test]
fn gc_without_lease_collects_unreferenced() {
    // The control for the test above: the same blob, unleased and untagged, is garbage.
    let (_dir, store) = store();
    let img = {
        let _lease = store.lease().unwrap();
        put_image(&store, "x", &[b"layer"])
    };
    let report = store.gc(&GcOptions::default()).unwrap();
    assert_eq!(report.blobs_removed(), 3);
    assert!(!store.has_blob(&img.digest).unwrap());
}

#[test]
fn crash_leftovers_are_garbage_and_repaired() {
    let (_dir, store) = store();
    let lease = store.lease().unwrap();
    let a = put_image(&store, "a", &[b"layer"]);
    store.tag(&name("a:1"), &a).unwrap();
    // What a writer killed mid-blob leaves behind (a real kill is in tests/concurrency.rs).
    fs::write(store.tmp_dir().join("0123456789abcdef"), b"half a layer").unwrap();
    // A writer dropped without commit leaves nothing.
    let mut w = store.blob_writer().unwrap();
    w.write_all(b"abandoned").unwrap();
    drop(w);
    // A blob that made it into the store but was never referenced.
    let (orphan, _) = store.put_bytes(b"orphan", None).unwrap();
    drop(lease);
    // An index write interrupted before its rename.
    let good_index = fs::read(store.index_path()).unwrap();
    fs::write(
        store.root().join("index.json.tmp"),
        &good_index[..good_index.len() / 2],
    )
    .unwrap();
    // A stray file in the blob directory.
    fs::write(store.root().join("blobs/sha256/not-a-digest"), b"?").unwrap();

    let report = store.check(false).unwrap();
    assert!(report.is_consistent(), "{report:?}");
    assert!(!report.is_clean());
    assert_eq!(report.temp_files.len(), 2, "{report:?}");
    assert_eq!(
        report.unreferenced.iter().map(|u| u.0).collect::<Vec<_>>(),
        vec![orphan]
    );
    assert_eq!(report.stray_files.len(), 1);
    assert_eq!(report.blobs_checked, 4);
    // check alone changes nothing.
    assert_eq!(tmp_count(&store), 1);
    assert!(store.has_blob(&orphan).unwrap());

    let repaired = store.check(true).unwrap();
    let rep = repaired.repaired.unwrap();
    assert_eq!(rep.files_removed.len(), 4, "{rep:?}");
    assert!(rep.entries_removed.is_empty());
    let after = store.check(false).unwrap();
    assert!(after.is_clean(), "{after:?}");
    assert_eq!(tmp_count(&store), 0);
    assert_eq!(fs::read(store.index_path()).unwrap(), good_index);
    assert_eq!(store.resolve(&name("a:1")).unwrap(), Some(a));
}

#[test]
fn corrupt_manifest_entry_is_dropped_by_repair() {
    let (_dir, store) = store();
    let lease = store.lease().unwrap();
    let a = put_image(&store, "a", &[b"shared"]);
    let b = put_image(&store, "b", &[b"shared", b"b"]);
    store.tag(&name("a:1"), &a).unwrap();
    store.tag(&name("b:1"), &b).unwrap();
    drop(lease);
    let b_blobs = closure(&store, &b);
    fs::write(store.blob_path(&b.digest), b"bit rot").unwrap();

    // GC refuses: it can't tell what b's manifest kept alive.
    assert!(matches!(
        store.gc(&GcOptions::default()),
        Err(Error::Unreachable { digest, .. }) if digest == b.digest
    ));
    let report = store.check(false).unwrap();
    assert!(!report.is_consistent());
    assert_eq!(report.corrupt.len(), 1);
    assert_eq!(report.corrupt[0].digest, b.digest);
    assert_eq!(report.broken_entries.len(), 1);
    assert_eq!(report.broken_entries[0].digest, b.digest);

    let rep = store.check(true).unwrap().repaired.unwrap();
    assert_eq!(rep.entries_removed.len(), 1);
    assert!(!rep.kept_unreferenced);
    assert_eq!(store.resolve(&name("b:1")).unwrap(), None);
    // b's own config and layer went with it; the shared layer stays for a.
    assert!(!store.has_blob(&b_blobs[1]).unwrap());
    assert!(!store.has_blob(&b_blobs[3]).unwrap());
    for d in closure(&store, &a) {
        assert!(store.has_blob(&d).unwrap());
    }
    assert!(store.check(false).unwrap().is_clean());
}

#[test]
fn corrupt_layer_is_removed_and_reported_missing() {
    let (_dir, store) = store();
    let lease = store.lease().unwrap();
    let a = put_image(&store, "a", &[b"layer one"]);
    store.tag(&name("a:1"), &a).unwrap();
    drop(lease);
    let layer = closure(&store, &a)[2];
    fs::write(store.blob_path(&layer), b"layer 0ne").unwrap();
    let report = store.check(true).unwrap();
    assert_eq!(report.corrupt[0].digest, layer);
    assert!(!store.has_blob(&layer).unwrap());
    let after = store.check(false).unwrap();
    assert_eq!(after.missing.len(), 1);
    assert_eq!(after.missing[0].digest, layer);
    assert_eq!(after.missing[0].referenced_by, Some(a.digest));
    // The image itself stays: it can be repaired by pulling or building again.
    assert!(after.broken_entries.is_empty());
    assert!(store.resolve(&name("a:1")).unwrap().is_some());
}

#[test]
fn unreadable_index_json_never_triggers_deletion() {
    let (_dir, store) = store();
    let lease = store.lease().unwrap();
    let a = put_image(&store, "a", &[b"layer"]);
    store.tag(&name("a:1"), &a).unwrap();
    drop(lease);
    fs::write(store.index_path(), b"{\"schemaVersion\":2,\"manif").unwrap();
    let report = store.check(true).unwrap();
    assert!(report.index_error.is_some());
    assert!(report.repaired.unwrap().kept_unreferenced);
    assert!(store.gc(&GcOptions::default()).is_err());
    for d in closure(&store, &a) {
        assert!(store.has_blob(&d).unwrap());
    }
}

#[test]
fn layer_count_mismatch_is_reported() {
    let (_dir, store) = store();
    let _lease = store.lease().unwrap();
    let a = put_image(&store, "a", &[b"1"]);
    let mut m = store.manifest(&a.digest).unwrap();
    m.layers.push(m.layers[0].clone());
    let (d, n) = store.put_json(&m).unwrap();
    store
        .tag(
            &name("bad:1"),
            &Descriptor::new(media_type::OCI_MANIFEST, d, n),
        )
        .unwrap();
    drop(_lease);
    let report = store.check(false).unwrap();
    assert_eq!(report.invalid.len(), 1, "{report:?}");
    assert!(report.invalid[0].reason.contains("diff IDs"));
}

#[test]
fn disk_usage_counts_shared_and_reclaimable() {
    let (_dir, store) = store();
    let lease = store.lease().unwrap();
    let big = vec![7u8; 10_000];
    let a = put_image(&store, "a", &[&big, b"a"]);
    let b = put_image(&store, "b", &[&big, b"bb"]);
    store.tag(&name("a:1"), &a).unwrap();
    store.tag(&name("b:1"), &b).unwrap();
    store.tag(&name("b:1"), &a).unwrap(); // b is now dangling
    let (_, loose) = store.put_bytes(b"loose", None).unwrap();
    drop(lease);
    let du = store.disk_usage().unwrap();
    assert_eq!(du.images.len(), 2);
    let size_of = |img: &Descriptor| -> u64 {
        closure(&store, img)
            .iter()
            .map(|d| store.blob_size(d).unwrap())
            .sum()
    };
    let ua = du
        .images
        .iter()
        .find(|u| u.entry.digest() == &a.digest)
        .unwrap();
    let ub = du
        .images
        .iter()
        .find(|u| u.entry.digest() == &b.digest)
        .unwrap();
    assert_eq!(ua.size, size_of(&a));
    assert_eq!(ua.shared_size, 10_000);
    assert_eq!(ua.unique_size, ua.size - 10_000);
    assert!(ub.entry.is_dangling());
    assert_eq!(du.dangling_bytes, ub.unique_size);
    assert_eq!(du.unreferenced_bytes, loose);
    assert_eq!(du.images_bytes, ua.size + ub.unique_size);
    assert_eq!(du.total_bytes, du.images_bytes + loose);
    assert_eq!(du.reclaimable_bytes(), ub.unique_size + loose);
}

#[test]
fn gc_under_own_lease_is_an_error_not_a_hang() {
    let (_dir, store) = store();
    let lease = store.lease().unwrap();
    let nested = store.lease().unwrap();
    assert!(matches!(
        store.gc(&GcOptions::default()),
        Err(Error::LeaseHeld { .. })
    ));
    assert!(matches!(store.check(false), Err(Error::LeaseHeld { .. })));
    drop(nested);
    drop(lease);
    // A lease moved to and dropped on another thread is accounted correctly.
    let lease = store.lease().unwrap();
    std::thread::spawn(move || drop(lease)).join().unwrap();
    store.gc(&GcOptions::default()).unwrap();
    // Another thread's lease is waited for, not refused.
    let lease = store.lease().unwrap();
    let other = {
        let store = store.clone();
        std::thread::spawn(move || store.gc(&GcOptions::default()).map(|_| ()))
    };
    std::thread::sleep(Duration::from_millis(100));
    drop(lease);
    other.join().unwrap().unwrap();
}

#[test]
fn killed_builds_scratch_directories_are_removed_by_repair_and_gc() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, store) = store();
    let scratch = |name: &str| {
        // What a build killed mid-RUN leaves: a tree with an overlay work dir of mode 000.
        let step = store.tmp_dir().join(name);
        fs::create_dir_all(step.join("upper/etc")).unwrap();
        fs::write(step.join("upper/etc/f"), b"x").unwrap();
        fs::create_dir_all(step.join("work/work")).unwrap();
        fs::set_permissions(step.join("work/work"), fs::Permissions::from_mode(0o000)).unwrap();
        step
    };
    let first = scratch("step-1");
    let report = store.check(false).unwrap();
    assert_eq!(report.temp_files, vec![first.clone()], "{report:?}");
    store.check(true).unwrap();
    assert!(!first.exists());
    assert!(store.check(false).unwrap().is_clean());

    let second = scratch("step-2");
    let gc = store.gc(&GcOptions::default()).unwrap();
    assert_eq!(gc.temp_files_removed, 1);
    assert!(!second.exists());
}
