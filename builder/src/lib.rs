//! strata-builder: from a Dockerfile and a context to an image in the store.
//!
//! - [`dockerfile`]: the pure front end — [`dockerfile::parser::parse`] (BuildKit-exact AST),
//!   [`dockerfile::shell::Lexer`] (word expansion), typed instructions and lint rules.
//! - [`graph`]: [`graph::compile`] turns the text into a [`graph::BuildGraph`] of stages and
//!   steps with ARG/ENV scoping applied; [`graph::check`] is `build --check`.
//! - [`container`]: containers — create, start under a monitor, exec, stop, remove — on
//!   the store's container records ([`container::ContainerStore`]).
//! - [`context`]: [`context::ContextView`] — `.dockerignore`, COPY source selection, content
//!   hashes remembered in a [`context::StatCache`].
//! - [`sandbox`]: [`sandbox::Sandbox`] runs one RUN process from a [`sandbox::RunSpec`].
//! - [`layer`]: tar streams in and out — [`layer::write_layer`], [`layer::extract_layer`],
//!   [`layer::import_tar`].
//! - [`solver`]: [`solver::build`] runs a [`solver::BuildRequest`] against the store.
//! - [`image`]: images as docker users see them — [`image::find_image`], import, inspect,
//!   history, removal, and [`image::archive`] (`save`/`load`).
#![deny(missing_docs)]

pub mod cgroup;
pub mod container;
pub mod context;
pub mod dockerfile;
pub mod graph;
pub mod image;
pub mod layer;
pub mod net;
pub mod sandbox;
pub mod solver;
