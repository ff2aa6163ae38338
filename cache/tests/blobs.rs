//! Opening stores and blob writes/reads.

mod common;

use common::tmp_count;
use std::fs;
use std::io::{Read, Write};
use strata_cache::{Digest, DigestWriter, Error, Store};

#[test]
fn open_creates_layout_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = Store::open(&root).unwrap();
    assert_eq!(
        fs::read_to_string(root.join("oci-layout")).unwrap(),
        "{\"imageLayoutVersion\":\"1.0.0\"}"
    );
    assert_eq!(
        fs::read_to_string(root.join("strata/v1/version")).unwrap(),
        "1\n"
    );
    assert!(root.join("blobs/sha256").is_dir());
    assert!(store.tmp_dir().is_dir());
    assert!(store.roots_dir().is_dir());
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["manifests"], serde_json::json!([]));
    assert_eq!(tmp_count(&store), 0);
    Store::open(&root).unwrap();
    assert!(store.check(false).unwrap().is_clean());
}

#[test]
fn concurrent_opens_of_a_fresh_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("fresh");
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let root = root.clone();
            std::thread::spawn(move || Store::open(root).unwrap())
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let store = Store::open(&root).unwrap();
    assert!(store.check(false).unwrap().is_clean());
}

#[test]
fn refuses_unknown_metadata_versions() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("strata/v2")).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::UnsupportedVersion { ref found, .. } if found == "2"));
    assert!(err.to_string().contains("version"), "{err}");
    // Nothing was created in a store we don't understand.
    assert!(!dir.path().join("index.json").exists());

    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path()).unwrap();
    fs::write(dir.path().join("strata/v1/version"), "7\n").unwrap();
    assert!(matches!(
        Store::open(dir.path()),
        Err(Error::UnsupportedVersion { .. })
    ));

    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("oci-layout"),
        "{\"imageLayoutVersion\":\"2.0.0\"}",
    )
    .unwrap();
    assert!(matches!(
        Store::open(dir.path()),
        Err(Error::InvalidLayout { .. })
    ));
}

#[test]
fn put_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let expected = Digest::of_bytes(&data);
    let (d, n) = store.put_blob(&data[..], Some(&expected)).unwrap();
    assert_eq!((d, n), (expected, data.len() as u64));
    assert!(store.has_blob(&d).unwrap());
    assert_eq!(store.blob_size(&d).unwrap(), n);
    assert_eq!(
        store.blob_path(&d),
        dir.path().join("blobs/sha256").join(d.hex())
    );
    let mut back = Vec::new();
    store.open_blob(&d).unwrap().read_to_end(&mut back).unwrap();
    assert_eq!(back, data);
    let mut back = Vec::new();
    store
        .open_blob_verified(&d)
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, data);
    assert_eq!(store.read_blob(&d).unwrap(), data);
    // Writing the same content again is a no-op.
    assert_eq!(store.put_bytes(&data, None).unwrap(), (d, n));
    assert_eq!(store.list_blobs().unwrap(), vec![(d, n)]);
    assert_eq!(tmp_count(&store), 0);

    let missing = Digest::of_bytes(b"nope");
    assert!(!store.has_blob(&missing).unwrap());
    assert!(matches!(
        store.blob_size(&missing),
        Err(Error::BlobNotFound(_))
    ));
    assert!(store.open_blob(&missing).unwrap_err().is_not_found());
}

#[test]
fn wrong_digest_is_refused_and_invisible() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let claimed = Digest::of_bytes(b"what the registry promised");
    let err = store
        .put_bytes(b"what it sent", Some(&claimed))
        .unwrap_err();
    match err {
        Error::DigestMismatch {
            expected,
            actual,
            size,
        } => {
            assert_eq!(expected, claimed);
            assert_eq!(actual, Digest::of_bytes(b"what it sent"));
            assert_eq!(size, 12);
        }
        other => panic!("unexpected {other}"),
    }
    assert!(!store.has_blob(&claimed).unwrap());
    assert!(!store.has_blob(&Digest::of_bytes(b"what it sent")).unwrap());
    assert!(store.list_blobs().unwrap().is_empty());
    assert_eq!(tmp_count(&store), 0, "temp file must be removed");
    assert!(store.check(false).unwrap().is_clean());
}

#[test]
fn blob_writer_streams_and_drop_discards() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();

    let mut w = store.blob_writer().unwrap();
    w.write_all(b"partial").unwrap();
    assert_eq!(tmp_count(&store), 1);
    drop(w);
    assert_eq!(tmp_count(&store), 0);
    assert!(store.list_blobs().unwrap().is_empty());

    // The layer pipeline: tar -> sha256 (diffID) -> "compression" -> sha256 -> store.
    let w = store.blob_writer().unwrap();
    let outer = DigestWriter::new(w);
    let mut inner = DigestWriter::new(outer);
    inner.write_all(b"uncompressed tar bytes").unwrap();
    let (outer, diff_id, _) = inner.finish();
    let (mut w, digest, size) = outer.finish();
    assert_eq!(w.bytes_written(), size);
    assert_eq!(w.digest().unwrap(), digest);
    let (stored, n) = w.commit(Some(&digest)).unwrap();
    assert_eq!((stored, n), (digest, size));
    assert_eq!(diff_id, Digest::of_bytes(b"uncompressed tar bytes"));
}

#[test]
fn corrupt_blob_is_detected_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (d, _) = store.put_bytes(b"{\"a\":1}", None).unwrap();
    fs::write(store.blob_path(&d), b"{\"a\":2}").unwrap();
    assert!(matches!(
        store.read_blob(&d),
        Err(Error::CorruptBlob { digest, .. }) if digest == d
    ));
    let err = store
        .open_blob_verified(&d)
        .unwrap()
        .read_to_end(&mut Vec::new())
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
}

#[test]
fn truncated_existing_blob_is_replaced_on_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (d, n) = store.put_bytes(b"0123456789", None).unwrap();
    fs::write(store.blob_path(&d), b"01234").unwrap();
    assert_eq!(store.put_bytes(b"0123456789", None).unwrap(), (d, n));
    assert_eq!(store.read_blob(&d).unwrap(), b"0123456789");
}
