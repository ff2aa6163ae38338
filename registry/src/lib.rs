//! strata-registry: the distribution-spec client and image references.
//!
//! [`Reference`] parses and normalizes image references as docker does
//! (`busybox` is `docker.io/library/busybox`); [`AnyReference`] also takes
//! image IDs; [`ReferenceError`] carries docker's error messages.
#![deny(missing_docs)]

pub mod reference;

pub use reference::{AnyReference, Reference, ReferenceError};
