//! The image catalogue in index.json: tags, dangling images, atomic updates.

mod common;

use common::{name, put_image};
use strata_cache::oci::annotations::{CREATED, IMAGE_NAME, REF_NAME};
use strata_cache::{Digest, Error, Store};

fn index_json(store: &Store) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(store.index_path()).unwrap()).unwrap()
}

#[test]
fn tag_resolve_and_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let _lease = store.lease().unwrap();
    let img = put_image(&store, "a", &[b"layer"]);
    assert_eq!(store.tag(&name("a:latest"), &img).unwrap(), None);
    assert_eq!(store.resolve(&name("a:latest")).unwrap(), Some(img.clone()));
    assert_eq!(store.resolve(&name("b:latest")).unwrap(), None);

    let json = index_json(&store);
    let entry = &json["manifests"][0];
    assert_eq!(entry["digest"], img.digest.to_string());
    assert_eq!(
        entry["annotations"][IMAGE_NAME],
        "docker.io/library/a:latest"
    );
    assert_eq!(entry["annotations"][REF_NAME], "latest");
    assert!(entry["annotations"][CREATED].is_string());

    // Tagging again is a no-op; a second name adds a second entry for the same image.
    store.tag(&name("a:latest"), &img).unwrap();
    store.tag(&name("a:v1"), &img).unwrap();
    let digest_name = format!("docker.io/library/a@{}", img.digest);
    store.tag(&digest_name, &img).unwrap();
    let images = store.images().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(
        images[0].names,
        vec![name("a:latest"), name("a:v1"), digest_name.clone()]
    );
    assert!(images[0].created.is_some());
    assert!(!images[0].is_dangling());
    // Digest names carry no tag annotation.
    let json = index_json(&store);
    assert!(json["manifests"][2]["annotations"].get(REF_NAME).is_none());
}

#[test]
fn tag_requires_the_manifest_blob() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut ghost = {
        let _lease = store.lease().unwrap();
        put_image(&store, "a", &[])
    };
    ghost.digest = Digest::of_bytes(b"not stored");
    assert!(matches!(
        store.tag(&name("a:latest"), &ghost),
        Err(Error::BlobNotFound(_))
    ));
    assert!(matches!(
        store.tag("has space", &ghost),
        Err(Error::InvalidName { .. })
    ));
    assert!(store.images().unwrap().is_empty());
}

#[test]
fn moving_a_tag_leaves_the_old_image_dangling() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let _lease = store.lease().unwrap();
    let old = put_image(&store, "old", &[b"1"]);
    let new = put_image(&store, "new", &[b"2"]);
    store.tag(&name("app:latest"), &old).unwrap();
    let created_old = store.images().unwrap()[0].created;
    assert_eq!(
        store.tag(&name("app:latest"), &new).unwrap(),
        Some(old.digest)
    );
    let images = store.images().unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!(images[0].digest(), &old.digest);
    assert!(images[0].is_dangling());
    assert_eq!(images[0].created, created_old, "creation time survives");
    assert_eq!(images[1].names, vec![name("app:latest")]);

    // Naming the dangling image again replaces its nameless entry.
    store.tag(&name("app:old"), &old).unwrap();
    let images = store.images().unwrap();
    assert_eq!(images[0].names, vec![name("app:old")]);
    assert_eq!(store.read_index().unwrap().manifests.len(), 2);

    // An image with another name does not become dangling when one name moves.
    store.tag(&name("app:also-old"), &old).unwrap();
    store.tag(&name("app:old"), &new).unwrap();
    let images = store.images().unwrap();
    let names_of = |d: &Digest| {
        images
            .iter()
            .find(|e| e.digest() == d)
            .map(|e| e.names.clone())
            .unwrap()
    };
    assert_eq!(names_of(&old.digest), vec![name("app:also-old")]);
    assert_eq!(
        names_of(&new.digest),
        vec![name("app:latest"), name("app:old")]
    );
}

#[test]
fn untag_remove_and_prune() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let _lease = store.lease().unwrap();
    let a = put_image(&store, "a", &[b"1"]);
    let b = put_image(&store, "b", &[b"2"]);
    store.tag(&name("a:1"), &a).unwrap();
    store.tag(&name("a:2"), &a).unwrap();
    store.tag(&name("b:1"), &b).unwrap();

    assert!(matches!(
        store.untag(&name("zzz:1")),
        Err(Error::NameNotFound(n)) if n == name("zzz:1")
    ));
    let u = store.untag(&name("a:1")).unwrap();
    assert_eq!(u.descriptor, a);
    assert!(!u.last);
    let u = store.untag(&name("a:2")).unwrap();
    assert!(u.last);
    let images = store.images().unwrap();
    assert!(images
        .iter()
        .any(|e| e.digest() == &a.digest && e.is_dangling()));

    // rmi semantics in one atomic update: untag, and delete when it was the last name.
    let removed = store
        .update_index(|c| {
            let u = c.untag(&name("b:1"))?;
            assert!(u.last);
            c.remove_image(&u.descriptor.digest)
        })
        .unwrap();
    assert!(removed.is_empty(), "names were already gone");
    assert!(store
        .images()
        .unwrap()
        .iter()
        .all(|e| e.digest() != &b.digest));

    assert!(matches!(
        store.remove_image(&b.digest),
        Err(Error::ImageNotFound(_))
    ));

    // add_image records an unnamed image once.
    assert!(store.add_image(&b).unwrap());
    assert!(!store.add_image(&b).unwrap());
    let pruned = store.update_index(|c| Ok(c.remove_dangling())).unwrap();
    assert_eq!(pruned.len(), 2);
    assert!(store.images().unwrap().is_empty());
}

#[test]
fn failed_update_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let _lease = store.lease().unwrap();
    let a = put_image(&store, "a", &[]);
    store.tag(&name("a:1"), &a).unwrap();
    let before = std::fs::read(store.index_path()).unwrap();
    let err = store
        .update_index(|c| {
            c.tag(&name("a:2"), &a)?;
            c.untag(&name("missing:1"))
        })
        .unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(std::fs::read(store.index_path()).unwrap(), before);
}

#[test]
fn reading_images_and_ids() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let _lease = store.lease().unwrap();
    let a = put_image(&store, "a", &[b"x", b"y"]);
    let b = put_image(&store, "b", &[b"x"]);
    store.tag(&name("a:1"), &a).unwrap();
    store.tag(&name("b:1"), &b).unwrap();
    let m = store.manifest(&a.digest).unwrap();
    assert_eq!(m.layers.len(), 2);
    let config = store.config(&m).unwrap();
    assert_eq!(config.author.as_deref(), Some("a"));
    let raw = store.config_bytes(&m).unwrap();
    assert_eq!(Digest::of_bytes(&raw), m.config.digest);
    let id = store.image_id(&a).unwrap();
    assert_eq!(id, m.config.digest);

    let found = store.find_by_id(&id.hex()[..12]).unwrap();
    assert_eq!(found.digest(), &a.digest);
    let found = store.find_by_id(&a.digest.to_string()).unwrap();
    assert_eq!(found.names, vec![name("a:1")]);
    assert!(matches!(store.find_by_id(""), Err(Error::NameNotFound(_))));
    assert!(matches!(
        store.find_by_id("xyz"),
        Err(Error::NameNotFound(_))
    ));
    // A manifest is not an index.
    assert!(matches!(
        store.image_index(&a.digest),
        Err(Error::UnexpectedMediaType { .. })
    ));
}

#[test]
fn ambiguous_id_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let _lease = store.lease().unwrap();
    // 17 images: by pigeonhole two manifest digests share their first hex digit.
    let mut firsts = std::collections::BTreeMap::new();
    for i in 0..17 {
        let img = put_image(&store, &format!("img{i}"), &[]);
        store.tag(&name(&format!("img:{i}")), &img).unwrap();
        *firsts.entry(img.digest.hex()[..1].to_string()).or_insert(0) += 1;
    }
    let (prefix, _) = firsts.iter().find(|(_, n)| **n >= 2).unwrap();
    assert!(matches!(
        store.find_by_id(prefix),
        Err(Error::Ambiguous { count, .. }) if count >= 2
    ));
}
