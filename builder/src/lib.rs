//! strata-builder: the Dockerfile front end, the build graph and the layer machinery.
#![deny(missing_docs)]

pub mod context;
pub mod dockerfile;
pub mod graph;
pub mod image;
pub mod layer;
pub mod sandbox;
pub mod solver;
