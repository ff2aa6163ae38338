//! strata-cache: the content-addressed image store.
#![deny(missing_docs)]
