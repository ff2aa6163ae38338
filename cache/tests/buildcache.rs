//! The build-cache index: records round-trip, unusable records are misses that check
//! reports, cache layers are GC roots until the records are pruned.

mod common;

use chrono::{TimeZone, Utc};
use std::fs;
use std::time::Duration;
use strata_cache::oci::media_type;
use strata_cache::{
    CacheKey, CachePruneFilter, CacheRecord, Descriptor, Digest, Error, GcOptions, Store,
    CACHE_RECORD_VERSION,
};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

fn key(s: &str) -> CacheKey {
    CacheKey::new(Digest::of_bytes(s.as_bytes()))
}

/// A record with a stored layer blob; the caller holds a lease.
fn record_with_layer(store: &Store, k: &str, content: &[u8]) -> CacheRecord {
    let (digest, size) = store.put_bytes(content, None).unwrap();
    let mut r = CacheRecord::new(key(k), format!("RUN echo {k}"));
    r.layer = Some(Descriptor::new(
        media_type::OCI_LAYER_TAR_GZIP,
        digest,
        size,
    ));
    r.diff_id = Some(Digest::of_bytes(b"uncompressed"));
    r
}

fn record_file(store: &Store, k: &CacheKey) -> std::path::PathBuf {
    store.buildcache_dir().join(format!("{}.json", k.hex()))
}

#[test]
fn records_round_trip() {
    let (_dir, store) = store();
    assert_eq!(store.cache_get(&key("a")).unwrap(), None);
    let lease = store.lease().unwrap();
    let mut r = record_with_layer(&store, "a", b"layer a");
    r.parent_key = Some(key("parent"));
    r.config_delta = serde_json::json!({"Env": ["A=1"], "WorkingDir": "/src"});
    r.inputs
        .insert("file:/src".into(), Digest::of_bytes(b"src").to_string());
    r.inputs.insert("arg:VERSION".into(), "1.2".into());
    r.created = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    r.last_used = Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).unwrap();
    store.cache_put(&r).unwrap();
    assert_eq!(store.cache_get(&r.key).unwrap().as_ref(), Some(&r));
    assert_eq!(store.cache_records().unwrap(), vec![r.clone()]);
    // The key is its digest string on disk; nothing else in the directory.
    let text = fs::read_to_string(record_file(&store, &r.key)).unwrap();
    assert!(text.contains(&r.key.to_string()), "{text}");
    assert_eq!(fs::read_dir(store.buildcache_dir()).unwrap().count(), 1);

    // Replacing a record is a plain overwrite.
    let mut r2 = r.clone();
    r2.description = "RUN echo a # again".into();
    store.cache_put(&r2).unwrap();
    assert_eq!(store.cache_get(&r.key).unwrap(), Some(r2));

    // A metadata-only step has no layer.
    let meta = CacheRecord::new(key("env"), "ENV A=1");
    store.cache_put(&meta).unwrap();
    assert_eq!(store.cache_get(&meta.key).unwrap(), Some(meta));
    drop(lease);
    assert!(store.check(false).unwrap().is_consistent());
}

#[test]
fn put_refuses_inconsistent_records() {
    let (_dir, store) = store();
    let _lease = store.lease().unwrap();
    let mut r = record_with_layer(&store, "a", b"layer");
    r.version = CACHE_RECORD_VERSION + 1;
    assert!(matches!(
        store.cache_put(&r),
        Err(Error::CacheRecord { .. })
    ));
    r.version = CACHE_RECORD_VERSION;
    r.diff_id = None;
    assert!(matches!(
        store.cache_put(&r),
        Err(Error::CacheRecord { .. })
    ));
    let mut r = CacheRecord::new(key("b"), "RUN b");
    let absent = Digest::of_bytes(b"never stored");
    r.layer = Some(Descriptor::new(media_type::OCI_LAYER_TAR, absent, 3));
    r.diff_id = Some(absent);
    assert!(matches!(store.cache_put(&r), Err(Error::BlobNotFound(d)) if d == absent));
    assert!(store.cache_records().unwrap().is_empty());
}

#[test]
fn touch_and_lookups() {
    let (_dir, store) = store();
    let _lease = store.lease().unwrap();
    let mut old = record_with_layer(&store, "old", b"old layer");
    old.parent_key = Some(key("p"));
    old.last_used = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    store.cache_put(&old).unwrap();
    let mut sibling = CacheRecord::new(key("sibling"), "COPY . /src");
    sibling.parent_key = Some(key("p"));
    store.cache_put(&sibling).unwrap();
    store
        .cache_put(&CacheRecord::new(key("other"), "RUN x"))
        .unwrap();

    let before = Utc::now();
    assert!(store.cache_touch(&old.key).unwrap());
    assert!(!store.cache_touch(&key("absent")).unwrap());
    let got = store.cache_get(&old.key).unwrap().unwrap();
    assert!(
        got.last_used >= before - chrono::Duration::seconds(1),
        "{got:?}"
    );
    assert_eq!(got.created, old.created);

    let mut siblings: Vec<CacheKey> = store
        .cache_find_by_parent(&key("p"))
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    siblings.sort();
    let mut want = vec![old.key, sibling.key];
    want.sort();
    assert_eq!(siblings, want);
    let all: Vec<CacheKey> = store
        .cache_records()
        .unwrap()
        .iter()
        .map(|r| r.key)
        .collect();
    assert!(all.windows(2).all(|w| w[0] < w[1]), "sorted by key");
    assert_eq!(all.len(), 3);
}

#[test]
fn corrupt_and_other_version_records_are_misses() {
    let (_dir, store) = store();
    let lease = store.lease().unwrap();
    let good = record_with_layer(&store, "good", b"good layer");
    store.cache_put(&good).unwrap();
    // Corrupt: not JSON.
    let corrupt = key("corrupt");
    fs::write(record_file(&store, &corrupt), b"{\"version\":1,\"key\":").unwrap();
    // Misnamed: a valid record under another key's name.
    let misnamed = key("misnamed");
    fs::copy(
        record_file(&store, &good.key),
        record_file(&store, &misnamed),
    )
    .unwrap();
    // A record from a newer strata, whose layer must survive GC.
    let newer = key("newer");
    let (newer_layer, newer_size) = store.put_bytes(b"newer layer", None).unwrap();
    let mut value = serde_json::to_value(CacheRecord::new(newer, "RUN new")).unwrap();
    value["version"] = 2.into();
    value["layer"] = serde_json::to_value(Descriptor::new(
        media_type::OCI_LAYER_TAR,
        newer_layer,
        newer_size,
    ))
    .unwrap();
    value["somethingNew"] = true.into();
    fs::write(record_file(&store, &newer), value.to_string()).unwrap();
    // A stray file.
    fs::write(store.buildcache_dir().join("notes.txt"), b"hi").unwrap();
    drop(lease);

    for k in [corrupt, misnamed, newer] {
        assert_eq!(store.cache_get(&k).unwrap(), None, "{k}");
    }
    assert_eq!(store.cache_records().unwrap(), vec![good.clone()]);

    let report = store.check(false).unwrap();
    assert!(report.is_consistent(), "{report:#?}");
    assert_eq!(report.cache_records_checked, 4);
    assert_eq!(report.bad_cache_records.len(), 3, "{report:#?}");
    assert_eq!(report.unsupported_cache_records.len(), 1);
    assert!(report.stale_cache_records.is_empty());
    assert!(report.unreferenced.is_empty(), "{report:#?}");

    store.check(true).unwrap();
    let after = store.check(false).unwrap();
    assert!(after.is_clean(), "{after:#?}");
    assert_eq!(after.unsupported_cache_records.len(), 1);
    assert!(store.has_blob(&newer_layer).unwrap());
    assert_eq!(store.cache_get(&good.key).unwrap(), Some(good));
}

#[test]
fn record_whose_layer_vanished_is_a_miss_and_dropped_by_repair() {
    let (_dir, store) = store();
    let lease = store.lease().unwrap();
    let r = record_with_layer(&store, "a", b"layer that will vanish");
    store.cache_put(&r).unwrap();
    drop(lease);
    let layer = r.layer.as_ref().unwrap().digest;
    fs::remove_file(store.blob_path(&layer)).unwrap();
    assert_eq!(store.cache_get(&r.key).unwrap(), None);
    let report = store.check(false).unwrap();
    assert_eq!(report.stale_cache_records, vec![r.key]);
    assert!(report.has_garbage());
    store.check(true).unwrap();
    assert!(!record_file(&store, &r.key).exists());
    assert!(store.check(false).unwrap().is_clean());

    // A layer whose blob is corrupt: repair removes both the blob and the record.
    let lease = store.lease().unwrap();
    let r = record_with_layer(&store, "b", b"layer that will rot");
    store.cache_put(&r).unwrap();
    drop(lease);
    let path = store.blob_path(&r.layer.as_ref().unwrap().digest);
    let len = fs::metadata(&path).unwrap().len() as usize;
    fs::write(&path, vec![0u8; len]).unwrap();
    let report = store.check(true).unwrap();
    assert_eq!(report.stale_cache_records, vec![r.key]);
    assert!(store.check(false).unwrap().is_clean());
    assert_eq!(store.cache_get(&r.key).unwrap(), None);
}

#[test]
fn gc_keeps_cache_layers_until_prune() {
    let (_dir, store) = store();
    let lease = store.lease().unwrap();
    let mut old = record_with_layer(&store, "old", b"old layer");
    old.diff_id = Some(Digest::of_bytes(b"old diff"));
    old.last_used = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    let mut new = record_with_layer(&store, "new", b"new layer");
    new.diff_id = Some(Digest::of_bytes(b"new diff"));
    for r in [&old, &new] {
        store.cache_put(r).unwrap();
        store
            .create_snapshot(r.diff_id.as_ref().unwrap(), |tmp| {
                fs::write(tmp.join("f"), b"x").map_err(|e| Error::Stream {
                    context: "test".into(),
                    source: e,
                })
            })
            .unwrap();
    }
    // A cached prune under one's own lease would wait forever.
    assert!(matches!(
        store.cache_prune(CachePruneFilter::All),
        Err(Error::LeaseHeld { .. })
    ));
    drop(lease);

    let layer = |r: &CacheRecord| r.layer.as_ref().unwrap().digest;
    let report = store.gc(&GcOptions::default()).unwrap();
    assert!(report.removed.is_empty(), "{report:#?}");
    assert!(report.snapshots_removed.is_empty(), "{report:#?}");
    let usage = store.disk_usage().unwrap();
    assert_eq!(usage.cache_records, 2);
    assert_eq!(usage.unreferenced_bytes, 0);
    assert!(usage.roots_only_bytes > 0);
    assert_eq!(usage.cache_only_snapshot_bytes, usage.snapshot_bytes);

    let report = store
        .cache_prune(CachePruneFilter::unused_for(Duration::from_secs(3600)))
        .unwrap();
    assert_eq!(report.removed, vec![old.clone()]);
    assert_eq!(
        report.gc.removed.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![layer(&old)]
    );
    assert_eq!(report.gc.snapshots_removed.len(), 1);
    assert!(store
        .snapshot(old.diff_id.as_ref().unwrap())
        .unwrap()
        .is_none());
    assert!(store
        .snapshot(new.diff_id.as_ref().unwrap())
        .unwrap()
        .is_some());
    assert!(store.has_blob(&layer(&new)).unwrap());

    let report = store.cache_prune(CachePruneFilter::All).unwrap();
    assert_eq!(report.removed, vec![new.clone()]);
    assert!(!store.has_blob(&layer(&new)).unwrap());
    assert!(store.snapshots().unwrap().is_empty());
    assert!(store.cache_records().unwrap().is_empty());
    assert!(store.check(false).unwrap().is_clean());
}

#[test]
fn cache_keys_parse_and_display_as_digests() {
    let k = key("x");
    let s = k.to_string();
    assert!(s.starts_with("sha256:"));
    assert_eq!(s.parse::<CacheKey>().unwrap(), k);
    assert_eq!(k.digest().hex(), k.hex());
    assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{s}\""));
    assert!("sha256:xyz".parse::<CacheKey>().is_err());
}
