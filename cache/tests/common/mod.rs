//! Helpers shared by the integration tests: fabricate small images in a store.
#![allow(dead_code)]

use strata_cache::oci::{media_type, ImageConfig, ImageManifest, RootFs};
use strata_cache::{Descriptor, Digest, Store};

/// Stores a config, `layers` (given as contents) and a manifest; returns the manifest
/// descriptor. The caller is expected to hold a lease.
pub fn put_image(store: &Store, seed: &str, layers: &[&[u8]]) -> Descriptor {
    let mut layer_descs = Vec::new();
    let mut diff_ids = Vec::new();
    for content in layers {
        let (d, n) = store.put_bytes(content, None).unwrap();
        layer_descs.push(Descriptor::new(media_type::OCI_LAYER_TAR, d, n));
        diff_ids.push(d);
    }
    let config = ImageConfig {
        architecture: "amd64".into(),
        os: "linux".into(),
        author: Some(seed.to_string()),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids,
        },
        ..ImageConfig::default()
    };
    let (cd, cn) = store.put_json(&config).unwrap();
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.into()),
        artifact_type: None,
        config: Descriptor::new(media_type::OCI_CONFIG, cd, cn),
        layers: layer_descs,
        subject: None,
        annotations: Default::default(),
    };
    let (md, mn) = store.put_json(&manifest).unwrap();
    Descriptor::new(media_type::OCI_MANIFEST, md, mn)
}

/// Every blob an image (single manifest) refers to, manifest included.
pub fn closure(store: &Store, image: &Descriptor) -> Vec<Digest> {
    let m = store.manifest(&image.digest).unwrap();
    let mut out = vec![image.digest, m.config.digest];
    out.extend(m.layers.iter().map(|l| l.digest));
    out
}

/// Number of entries in the temp directory.
pub fn tmp_count(store: &Store) -> usize {
    std::fs::read_dir(store.tmp_dir()).unwrap().count()
}

pub fn name(s: &str) -> String {
    format!("docker.io/library/{s}")
}
