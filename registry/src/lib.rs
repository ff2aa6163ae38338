//! strata-registry: the distribution-spec client and image references.
#![deny(missing_docs)]
