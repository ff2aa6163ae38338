//! The image catalogue kept in index.json.
//!
//! Every entry of index.json is a manifest (or nested index) descriptor. A named image has one
//! entry per name, annotated with [`IMAGE_NAME`] (the full normalized name, e.g.
//! `docker.io/library/busybox:latest`, normalized by the caller) and [`REF_NAME`] (the tag).
//! An image that lost its last name is kept as a single entry without name annotations (a
//! *dangling* image, `<none>:<none>`) until it is removed or pruned. Invariants kept by every
//! change: a name appears at most once, and a digest has either named entries or exactly one
//! dangling entry. Each entry carries [`CREATED`]: when the image was first recorded here.
//!
//! Changes go through [`Store::update_index`], which runs a closure on a [`Catalogue`] under
//! the index lock (and a GC lease), so several changes are atomic.

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::oci::annotations::{CREATED, IMAGE_NAME, REF_NAME};
use crate::oci::{media_type, Descriptor, ImageConfig, ImageIndex, ImageManifest};
use crate::store::Store;
use chrono::{DateTime, SecondsFormat, Utc};

/// One image of the catalogue: a manifest with all the names it has here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    /// The manifest (or index) descriptor, without the store's annotations (names, time).
    pub descriptor: Descriptor,
    /// Full names, in index.json order; empty for a dangling image.
    pub names: Vec<String>,
    /// When the image was first recorded in this store.
    pub created: Option<DateTime<Utc>>,
}

impl ImageEntry {
    /// The manifest digest.
    pub fn digest(&self) -> &Digest {
        &self.descriptor.digest
    }

    /// True when the image has no name (`<none>:<none>`).
    pub fn is_dangling(&self) -> bool {
        self.names.is_empty()
    }
}

/// What [`Catalogue::untag`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untagged {
    /// The image the name pointed to (without the store's annotations).
    pub descriptor: Descriptor,
    /// True when that was the image's last name: it is now dangling (call
    /// [`Catalogue::remove_image`] in the same update to delete it, as `rmi` does).
    pub last: bool,
}

/// index.json opened for changes; see [`Store::update_index`].
#[derive(Debug)]
pub struct Catalogue<'a> {
    store: &'a Store,
    index: ImageIndex,
}

fn entry_name(d: &Descriptor) -> Option<&str> {
    d.annotations.get(IMAGE_NAME).map(String::as_str)
}

/// An entry without its name annotations (what a dangling entry looks like).
fn strip_names(d: &Descriptor) -> Descriptor {
    let mut d = d.clone();
    d.annotations.remove(IMAGE_NAME);
    d.annotations.remove(REF_NAME);
    d
}

/// The descriptor as callers see it: without the store's bookkeeping annotations.
fn public(d: &Descriptor) -> Descriptor {
    let mut d = strip_names(d);
    d.annotations.remove(CREATED);
    d
}

fn created_of(d: &Descriptor) -> Option<DateTime<Utc>> {
    let s = d.annotations.get(CREATED)?;
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The tag part of a full name (`repo:tag`), None for digest references (`repo@sha256:...`).
fn tag_of(name: &str) -> Option<&str> {
    if name.contains('@') {
        return None;
    }
    let (repo, tag) = name.rsplit_once(':')?;
    // A colon before the last slash is a registry port, not a tag.
    (!tag.contains('/') && !repo.is_empty()).then_some(tag)
}

fn validate_name(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > 4096 {
        return bad("longer than 4096 bytes");
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("contains whitespace or control characters");
    }
    if name.parse::<Digest>().is_ok() {
        return bad("a bare digest is not a name");
    }
    Ok(())
}

impl<'a> Catalogue<'a> {
    pub(crate) fn new(store: &'a Store, index: ImageIndex) -> Catalogue<'a> {
        Catalogue { store, index }
    }

    pub(crate) fn into_index(self) -> ImageIndex {
        self.index
    }

    /// The raw index as it stands.
    pub fn index(&self) -> &ImageIndex {
        &self.index
    }

    /// All images, one entry per manifest digest, in index.json order.
    pub fn images(&self) -> Vec<ImageEntry> {
        images_of(&self.index)
    }

    /// The image named `name` (a full normalized name).
    pub fn resolve(&self, name: &str) -> Option<Descriptor> {
        resolve_in(&self.index, name)
    }

    /// Names the image `descriptor` (whose blob must be in the store) `name`. When the name
    /// pointed to another image, that image loses it (and becomes dangling if it was its last
    /// name); returns that other image's digest.
    pub fn tag(&mut self, name: &str, descriptor: &Descriptor) -> Result<Option<Digest>> {
        validate_name(name)?;
        if !self.store.has_blob(&descriptor.digest)? {
            return Err(Error::BlobNotFound(descriptor.digest));
        }
        let digest = descriptor.digest;
        let mut previous = None;
        if let Some(pos) = self.position_of_name(name) {
            let old = &self.index.manifests[pos];
            if old.digest == digest {
                return Ok(None);
            }
            previous = Some(old.digest);
            let old = self.index.manifests.remove(pos);
            if !self.index.manifests.iter().any(|d| d.digest == old.digest) {
                // Keep the image, now nameless, where it was.
                self.index.manifests.insert(pos, strip_names(&old));
            }
        }
        let mut entry = strip_names(descriptor);
        self.set_created(&mut entry);
        entry.annotations.insert(IMAGE_NAME.into(), name.into());
        if let Some(tag) = tag_of(name) {
            entry.annotations.insert(REF_NAME.into(), tag.into());
        }
        match self
            .index
            .manifests
            .iter()
            .position(|d| d.digest == digest && entry_name(d).is_none())
        {
            Some(pos) => self.index.manifests[pos] = entry,
            None => self.index.manifests.push(entry),
        }
        Ok(previous)
    }

    /// Removes the name `name`. Fails with [`Error::NameNotFound`] when no image has it.
    pub fn untag(&mut self, name: &str) -> Result<Untagged> {
        let pos = self
            .position_of_name(name)
            .ok_or_else(|| Error::NameNotFound(name.to_string()))?;
        let old = self.index.manifests.remove(pos);
        let last = !self.index.manifests.iter().any(|d| d.digest == old.digest);
        if last {
            self.index.manifests.insert(pos, strip_names(&old));
        }
        Ok(Untagged {
            descriptor: public(&old),
            last,
        })
    }

    /// Records an image without giving it a name (it shows as dangling unless it has or
    /// later gets names). Returns false when the image was already recorded.
    pub fn add_image(&mut self, descriptor: &Descriptor) -> Result<bool> {
        if !self.store.has_blob(&descriptor.digest)? {
            return Err(Error::BlobNotFound(descriptor.digest));
        }
        if self
            .index
            .manifests
            .iter()
            .any(|d| d.digest == descriptor.digest)
        {
            return Ok(false);
        }
        let mut entry = strip_names(descriptor);
        self.set_created(&mut entry);
        self.index.manifests.push(entry);
        Ok(true)
    }

    /// Drops every entry of the image `digest` (all its names); returns the names it had.
    /// Its blobs stay until GC. Fails with [`Error::ImageNotFound`] when it is not recorded.
    pub fn remove_image(&mut self, digest: &Digest) -> Result<Vec<String>> {
        let before = self.index.manifests.len();
        let mut names = Vec::new();
        self.index.manifests.retain(|d| {
            if d.digest != *digest {
                return true;
            }
            names.extend(entry_name(d).map(str::to_owned));
            false
        });
        if self.index.manifests.len() == before {
            return Err(Error::ImageNotFound(*digest));
        }
        Ok(names)
    }

    /// Drops every dangling image (what `image prune` does); returns them.
    pub fn remove_dangling(&mut self) -> Vec<Descriptor> {
        let mut removed = Vec::new();
        self.index.manifests.retain(|d| {
            if entry_name(d).is_some() {
                return true;
            }
            removed.push(public(d));
            false
        });
        removed
    }

    fn position_of_name(&self, name: &str) -> Option<usize> {
        self.index
            .manifests
            .iter()
            .position(|d| entry_name(d) == Some(name))
    }

    /// Keeps the first-recorded time of an image across its entries; stamps new images now.
    fn set_created(&self, entry: &mut Descriptor) {
        let known = self
            .index
            .manifests
            .iter()
            .find(|d| d.digest == entry.digest)
            .and_then(|d| d.annotations.get(CREATED).cloned());
        let stamp = known
            .or_else(|| entry.annotations.get(CREATED).cloned())
            .unwrap_or_else(|| Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true));
        entry.annotations.insert(CREATED.into(), stamp);
    }
}

pub(crate) fn images_of(index: &ImageIndex) -> Vec<ImageEntry> {
    let mut out: Vec<ImageEntry> = Vec::new();
    for d in &index.manifests {
        let name = entry_name(d).map(str::to_owned);
        if let Some(e) = out.iter_mut().find(|e| e.descriptor.digest == d.digest) {
            e.names.extend(name);
            e.created = e.created.or_else(|| created_of(d));
            continue;
        }
        out.push(ImageEntry {
            descriptor: public(d),
            names: name.into_iter().collect(),
            created: created_of(d),
        });
    }
    out
}

fn resolve_in(index: &ImageIndex, name: &str) -> Option<Descriptor> {
    index
        .manifests
        .iter()
        .find(|d| entry_name(d) == Some(name))
        .map(public)
}

impl Store {
    /// Runs `f` on the catalogue under the index lock (and a GC lease) and writes index.json
    /// back if it changed; when `f` fails nothing is written. Use it to make several changes
    /// atomically. Don't call other catalogue-changing methods of the store from inside `f`
    /// (the index lock is not re-entrant).
    pub fn update_index<T>(&self, f: impl FnOnce(&mut Catalogue<'_>) -> Result<T>) -> Result<T> {
        let _lease = self.lease()?;
        self.update_index_locked(f)
    }

    /// [`Store::update_index`] for callers already holding the GC lock (check, GC).
    pub(crate) fn update_index_locked<T>(
        &self,
        f: impl FnOnce(&mut Catalogue<'_>) -> Result<T>,
    ) -> Result<T> {
        let _guard = self.index_lock()?;
        let before = self.read_index()?;
        let mut cat = Catalogue::new(self, before.clone());
        let out = f(&mut cat)?;
        let after = cat.into_index();
        if after != before {
            self.write_index(&after)?;
        }
        Ok(out)
    }

    /// All images, one entry per manifest digest, in index.json order.
    pub fn images(&self) -> Result<Vec<ImageEntry>> {
        Ok(images_of(&self.read_index()?))
    }

    /// The image named `name` (full normalized name), if any.
    pub fn resolve(&self, name: &str) -> Result<Option<Descriptor>> {
        Ok(resolve_in(&self.read_index()?, name))
    }

    /// See [`Catalogue::tag`].
    pub fn tag(&self, name: &str, descriptor: &Descriptor) -> Result<Option<Digest>> {
        self.update_index(|c| c.tag(name, descriptor))
    }

    /// See [`Catalogue::untag`].
    pub fn untag(&self, name: &str) -> Result<Untagged> {
        self.update_index(|c| c.untag(name))
    }

    /// See [`Catalogue::add_image`].
    pub fn add_image(&self, descriptor: &Descriptor) -> Result<bool> {
        self.update_index(|c| c.add_image(descriptor))
    }

    /// See [`Catalogue::remove_image`].
    pub fn remove_image(&self, digest: &Digest) -> Result<Vec<String>> {
        self.update_index(|c| c.remove_image(digest))
    }

    /// The image ID docker would show: the config digest for a single-platform manifest,
    /// the digest itself for an index (or anything else).
    pub fn image_id(&self, descriptor: &Descriptor) -> Result<Digest> {
        if media_type::is_manifest(&descriptor.media_type) {
            Ok(self.manifest(&descriptor.digest)?.config.digest)
        } else {
            Ok(descriptor.digest)
        }
    }

    /// Finds the one image whose ID ([`Store::image_id`]) or manifest digest starts with
    /// `prefix` (hex, with or without `sha256:`). [`Error::NameNotFound`] when none does,
    /// [`Error::Ambiguous`] when several do.
    pub fn find_by_id(&self, prefix: &str) -> Result<ImageEntry> {
        let hex_prefix = prefix.strip_prefix("sha256:").unwrap_or(prefix);
        let valid = !hex_prefix.is_empty()
            && hex_prefix.len() <= 64
            && hex_prefix
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !valid {
            return Err(Error::NameNotFound(prefix.to_string()));
        }
        let mut found = Vec::new();
        for entry in self.images()? {
            let manifest_hit = entry.digest().hex().starts_with(hex_prefix);
            // An unreadable manifest just can't match by ID; check reports it.
            let id_hit = self
                .image_id(&entry.descriptor)
                .is_ok_and(|id| id.hex().starts_with(hex_prefix));
            if manifest_hit || id_hit {
                found.push(entry);
            }
        }
        match found.len() {
            0 => Err(Error::NameNotFound(prefix.to_string())),
            1 => Ok(found.remove(0)),
            count => Err(Error::Ambiguous {
                query: prefix.to_string(),
                count,
            }),
        }
    }

    /// Reads an image manifest (OCI or Docker schema 2), verifying its digest.
    pub fn manifest(&self, digest: &Digest) -> Result<ImageManifest> {
        let m: ImageManifest = self.read_json(digest)?;
        match m.media_type.as_deref() {
            Some(mt) if !media_type::is_manifest(mt) => Err(Error::UnexpectedMediaType {
                digest: *digest,
                media_type: mt.to_string(),
                expected: "an image manifest",
            }),
            _ => Ok(m),
        }
    }

    /// Reads an image index / manifest list, verifying its digest.
    pub fn image_index(&self, digest: &Digest) -> Result<ImageIndex> {
        let i: ImageIndex = self.read_json(digest)?;
        match i.media_type.as_deref() {
            Some(mt) if !media_type::is_index(mt) => Err(Error::UnexpectedMediaType {
                digest: *digest,
                media_type: mt.to_string(),
                expected: "an image index",
            }),
            _ => Ok(i),
        }
    }

    /// Parses the config of `manifest`.
    pub fn config(&self, manifest: &ImageManifest) -> Result<ImageConfig> {
        self.read_json(&manifest.config.digest)
    }

    /// The exact config bytes of `manifest` (their digest is the image ID).
    pub fn config_bytes(&self, manifest: &ImageManifest) -> Result<Vec<u8>> {
        self.read_blob(&manifest.config.digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_part_of_names() {
        assert_eq!(tag_of("docker.io/library/busybox:latest"), Some("latest"));
        assert_eq!(tag_of("localhost:5000/a/b:v1"), Some("v1"));
        assert_eq!(tag_of("localhost:5000/a/b"), None);
        assert_eq!(tag_of("a/b@sha256:abcd"), None);
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_name("docker.io/library/a:b").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("a b").is_err());
        let d = Digest::of_bytes(b"");
        assert!(validate_name(&d.to_string()).is_err());
        assert!(validate_name(&format!("docker.io/x@{d}")).is_ok());
    }
}
