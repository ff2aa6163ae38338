//! Cache keys from a dedicated stable encoding: a version tag, then named fields, each
//! length-prefixed, in the order the caller writes them. Never `std::hash::Hash` or serde
//! output, so a key means the same thing on every machine and in every version that keeps
//! [`KEY_VERSION`].

use sha2::{Digest as _, Sha256};
use strata_cache::{CacheKey, Digest};

/// Bumped whenever the meaning of a key's fields changes.
pub const KEY_VERSION: &str = "strata.step-key.v1";

/// Builds one [`CacheKey`].
pub struct KeyBuilder {
    hasher: Sha256,
}

impl KeyBuilder {
    /// A key of kind `kind` (e.g. `run`, `copy`), chained to `parent`.
    pub fn new(kind: &str, parent: Option<&CacheKey>) -> KeyBuilder {
        let mut k = KeyBuilder {
            hasher: Sha256::new(),
        };
        k.field("version", KEY_VERSION.as_bytes());
        k.field("kind", kind.as_bytes());
        match parent {
            Some(p) => k.field("parent", p.digest().to_string().as_bytes()),
            None => k.field("parent", b""),
        };
        k
    }

    /// Adds one named field.
    pub fn field(&mut self, name: &str, value: &[u8]) -> &mut KeyBuilder {
        self.hasher.update((name.len() as u64).to_le_bytes());
        self.hasher.update(name.as_bytes());
        self.hasher.update((value.len() as u64).to_le_bytes());
        self.hasher.update(value);
        self
    }

    /// Adds a list of strings as one field.
    pub fn list(&mut self, name: &str, values: &[String]) -> &mut KeyBuilder {
        self.field(name, &(values.len() as u64).to_le_bytes());
        for v in values {
            self.field("item", v.as_bytes());
        }
        self
    }

    /// The key.
    pub fn finish(self) -> CacheKey {
        let bytes: [u8; 32] = self.hasher.finalize().into();
        CacheKey::new(Digest::from_hex(&hex::encode(bytes)).expect("sha256 hex is a digest"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_boundaries_matter() {
        let mut a = KeyBuilder::new("run", None);
        a.field("x", b"ab").field("y", b"c");
        let mut b = KeyBuilder::new("run", None);
        b.field("x", b"a").field("y", b"bc");
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn stable_across_runs() {
        let mut a = KeyBuilder::new("copy", None);
        a.list("src", &["a".into()]);
        let mut b = KeyBuilder::new("copy", None);
        b.list("src", &["a".into()]);
        assert_eq!(a.finish(), b.finish());
    }
}
