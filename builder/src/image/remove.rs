//! `rmi` and `image prune`: untag, then delete what no name holds, then collect the blobs.

use super::{find_image, Image, ImageError, Result};
use strata_cache::{Digest, GcOptions, Store};
use strata_registry::Reference;

/// What a removal did, in the order docker prints it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    /// Names removed (`Untagged: busybox:latest`), in familiar form.
    pub untagged: Vec<String>,
    /// Image IDs deleted (`Deleted: sha256:...`).
    pub deleted: Vec<Digest>,
    /// Bytes of blobs freed.
    pub bytes_freed: u64,
}

/// Removes `query` as `docker rmi` does. A name removes that name and, when it was the last,
/// the image. An ID removes the image; with several names that needs `force`.
pub fn remove_image(store: &Store, query: &str, force: bool) -> Result<Removed> {
    let image = find_image(store, query)?;
    let by_name = matched_name(&image, query);
    let mut removed = Removed::default();
    let names: Vec<String> = match &by_name {
        Some(name) => vec![name.clone()],
        None => {
            if image.entry.names.len() > 1 && !force {
                return Err(ImageError::Conflict {
                    id: image.id.short(),
                    reason: "image is referenced in multiple repositories".into(),
                });
            }
            image.entry.names.clone()
        }
    };
    let manifest = *image.entry.digest();
    // docker's refusal: the last name (or the ID) of an image a container uses.
    let last_name = by_name.is_none() || image.entry.names.len() <= 1;
    if !force && last_name {
        if let Some(user) = store
            .containers()?
            .into_iter()
            .find(|c| c.image.digest == manifest || c.image_id == image.id)
        {
            return Err(match &by_name {
                Some(_) => ImageError::InUse {
                    reference: query.to_string(),
                    container: user.id.short(),
                    image: image.id.short(),
                },
                None => ImageError::Conflict {
                    id: image.id.short(),
                    reason: format!(
                        "image is being used by stopped container {}",
                        user.id.short()
                    ),
                },
            });
        }
    }
    let deleted = store.update_index(|catalogue| {
        let mut last = names.is_empty();
        for name in &names {
            last = catalogue.untag(name)?.last;
        }
        if last {
            catalogue.remove_image(&manifest)?;
        }
        Ok(last)
    })?;
    removed.untagged = names.iter().map(|n| familiar(n)).collect();
    if deleted {
        removed.deleted.push(image.id);
        removed.bytes_freed = store.gc(&GcOptions::default())?.total_bytes_freed();
    }
    Ok(removed)
}

/// The stored name `query` designates, when it designates one by name (not by ID).
fn matched_name(image: &Image, query: &str) -> Option<String> {
    let reference = Reference::parse(query).ok()?.with_default_tag();
    let full = reference.to_string();
    image.entry.names.iter().find(|n| **n == full).cloned()
}

fn familiar(name: &str) -> String {
    Reference::parse_raw(name)
        .map(|r| r.familiar_string())
        .unwrap_or_else(|_| name.to_string())
}

/// What `image prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Names removed (with `all`).
    pub untagged: Vec<String>,
    /// Image IDs deleted.
    pub deleted: Vec<Digest>,
    /// Bytes of blobs freed.
    pub bytes_freed: u64,
}

/// Removes dangling images, or with `all` every image, except those containers use; then
/// collects unreferenced blobs.
pub fn prune_images(store: &Store, all: bool) -> Result<PruneReport> {
    let mut report = PruneReport::default();
    let used: std::collections::BTreeSet<Digest> = store
        .containers()?
        .into_iter()
        .map(|c| c.image.digest)
        .collect();
    store.update_index(|catalogue| {
        // Read under the index lock: another process may have changed the catalogue.
        for entry in catalogue.images() {
            if (!all && !entry.is_dangling()) || used.contains(entry.digest()) {
                continue;
            }
            for name in &entry.names {
                report.untagged.push(familiar(name));
            }
            catalogue.remove_image(entry.digest())?;
            if let Ok(id) = store.image_id(&entry.descriptor) {
                report.deleted.push(id);
            }
        }
        Ok(())
    })?;
    report.bytes_freed = store.gc(&GcOptions::default())?.total_bytes_freed();
    Ok(report)
}
