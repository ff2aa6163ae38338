//! Solving stages: levels of independent stages run at once; each stage's steps run in order,
//! each looked up in the build cache first.

use super::key::KeyBuilder;
use super::ops::{plan, OpEnv, Output, PlannedStep};
use super::progress::Event;
use super::rootfs::{self, LayerRef};
use super::{BuildShared, SolveError, StepContext};
use crate::graph::{Base, Stage};
use crate::image::find_image;
use crate::layer::{write_layer, write_tree, LayerInfo, LayerOptions, LayerTree};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;
use strata_cache::oci::History;
use strata_cache::{CacheKey, CacheRecord, Store};

/// A solved stage: its layers, the key of its last step and its history.
#[derive(Debug, Clone)]
pub struct StageResult {
    /// Layers, bottom first.
    pub layers: Vec<LayerRef>,
    /// Key of the last step (what later stages chain from).
    pub key: CacheKey,
    /// History: the base's, then one entry per step that records one.
    pub history: Vec<History>,
    /// When the newest layer was made (a cache hit keeps its original time, so a fully
    /// cached rebuild gives the same image); the base image's time before any.
    pub created: Option<DateTime<Utc>>,
}

/// Solves every stage of the graph, level by level; independent stages in parallel threads.
pub fn solve_all(shared: &BuildShared<'_>) -> Result<BTreeMap<usize, StageResult>, SolveError> {
    let results: Mutex<BTreeMap<usize, StageResult>> = Mutex::new(BTreeMap::new());
    for level in shared.graph.levels() {
        let errors: Mutex<Vec<SolveError>> = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for index in level {
                let results = &results;
                let errors = &errors;
                scope.spawn(move || {
                    let Some(stage) = shared.graph.stage(index) else {
                        return;
                    };
                    match solve_stage(shared, stage, results) {
                        Ok(result) => {
                            results
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(index, result);
                        }
                        Err(err) => {
                            // The first failure stops the stages running beside this one.
                            shared.request.cancel.cancel();
                            errors.lock().unwrap_or_else(|e| e.into_inner()).push(err)
                        }
                    }
                });
            }
        });
        let mut errors = errors.into_inner().unwrap_or_else(|e| e.into_inner());
        // Report the failure that caused the cancellation, not the stages it stopped.
        errors.sort_by_key(|e| matches!(e, SolveError::Cancelled));
        if let Some(err) = errors.into_iter().next() {
            return Err(err);
        }
    }
    Ok(results.into_inner().unwrap_or_else(|e| e.into_inner()))
}

fn base_result(
    shared: &BuildShared<'_>,
    stage: &Stage,
    results: &Mutex<BTreeMap<usize, StageResult>>,
) -> Result<StageResult, SolveError> {
    match &stage.base {
        Base::Scratch => Ok(StageResult {
            layers: vec![],
            key: KeyBuilder::new("scratch", None).finish(),
            history: vec![],
            created: None,
        }),
        Base::Stage(i) => results
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(i)
            .cloned()
            .ok_or_else(|| {
                SolveError::Internal(format!(
                    "stage {i} was not built before stage {}",
                    stage.index
                ))
            }),
        Base::Image(reference) => image_result(shared.store, reference),
    }
}

pub(super) fn image_result(store: &Store, reference: &str) -> Result<StageResult, SolveError> {
    let image =
        find_image(store, reference).map_err(|e| SolveError::Image(format!("{reference}: {e}")))?;
    let layers = image
        .manifest
        .layers
        .iter()
        .zip(&image.config.rootfs.diff_ids)
        .map(|(d, diff)| LayerRef {
            descriptor: d.clone(),
            diff_id: *diff,
        })
        .collect();
    let mut key = KeyBuilder::new("image", None);
    key.field("manifest", image.entry.digest().to_string().as_bytes());
    Ok(StageResult {
        layers,
        key: key.finish(),
        created: image.config.created,
        history: image.config.history,
    })
}

fn step_name(stage: &Stage, step_index: usize, total: usize, text: &str) -> String {
    let prefix = match &stage.name {
        Some(name) => format!("[{name} {}/{total}]", step_index + 1),
        None => format!("[stage-{} {}/{total}]", stage.index, step_index + 1),
    };
    format!("{prefix} {text}")
}

fn solve_stage(
    shared: &BuildShared<'_>,
    stage: &Stage,
    results: &Mutex<BTreeMap<usize, StageResult>>,
) -> Result<StageResult, SolveError> {
    let mut state = base_result(shared, stage, results)?;
    let planned = plan(stage);
    let total = planned.len();
    for (i, step) in planned.iter().enumerate() {
        if shared.request.cancel.is_cancelled() {
            return Err(SolveError::Cancelled);
        }
        // Metadata steps only change the config: like BuildKit, they get no progress entry.
        let visible = step.op.makes_layer();
        let id = if visible { shared.next_step_id() } else { 0 };
        if visible {
            shared.progress.event(Event::Step {
                id,
                name: step_name(stage, i, total, &step.text),
            });
        }
        let started = Instant::now();
        let ctx = StepContext {
            shared,
            sandbox: &shared.sandbox,
            step_id: id,
            stage,
        };
        match solve_step(&ctx, step, &mut state, results) {
            Ok(_) if !visible => {}
            Ok(cached) => {
                let mut counts = shared.counts.lock().unwrap_or_else(|e| e.into_inner());
                if cached {
                    counts.0 += 1;
                    shared.progress.event(Event::Cached { id });
                } else {
                    counts.1 += 1;
                    shared.progress.event(Event::Done {
                        id,
                        seconds: started.elapsed().as_secs_f64(),
                    });
                }
            }
            Err(
                SolveError::Cancelled
                | SolveError::Sandbox(crate::sandbox::SandboxError::Cancelled),
            ) => {
                return Err(SolveError::Cancelled);
            }
            Err(err) => {
                shared.progress.event(Event::Error {
                    id,
                    message: err.to_string(),
                });
                let lines = step.lines;
                let rendered = crate::dockerfile::instructions::FrontendError::at(
                    err.to_string(),
                    lines.start,
                    lines.end,
                )
                .render(&shared.request.dockerfile, &shared.request.dockerfile_name);
                return Err(SolveError::Step(rendered.trim_end().to_string()));
            }
        }
    }
    Ok(state)
}

/// Why no record matches: compares the inputs with those of records that share the parent.
fn explain_miss(
    store: &Store,
    parent: &CacheKey,
    inputs: &BTreeMap<String, String>,
) -> Result<String, SolveError> {
    let siblings = store.cache_find_by_parent(parent)?;
    if siblings.is_empty() {
        return Ok("no cached result follows the previous step (it changed, or this step never ran after it)".into());
    }
    let mut best: Option<Vec<String>> = None;
    for record in &siblings {
        let mut changed = Vec::new();
        for (name, value) in inputs {
            match record.inputs.get(name) {
                Some(old) if old == value => {}
                Some(old) if name == "instruction" => {
                    changed.push(format!("instruction changed from `{old}` to `{value}`"))
                }
                Some(_) => changed.push(format!("{name} changed")),
                None => changed.push(format!("{name} is new")),
            }
        }
        for name in record.inputs.keys().filter(|k| !inputs.contains_key(*k)) {
            changed.push(format!("{name} is gone"));
        }
        if changed.is_empty() {
            changed.push("build arguments used by the step changed".into());
        }
        if best.as_ref().is_none_or(|b| changed.len() < b.len()) {
            best = Some(changed);
        }
    }
    Ok(best.unwrap_or_default().join("; "))
}

/// Runs or reuses one step; returns whether it was a cache hit.
fn solve_step(
    ctx: &StepContext<'_>,
    step: &PlannedStep,
    state: &mut StageResult,
    results: &Mutex<BTreeMap<usize, StageResult>>,
) -> Result<bool, SolveError> {
    let shared = ctx.shared;
    let store = shared.store;
    let env = OpEnv {
        ctx,
        stages: results,
    };
    let (key, inputs) = step.op.cache_key(&env, &state.key)?;
    let now = super::export::timestamp(shared.request.source_date_epoch);
    let record_history = |state: &mut StageResult, layer: bool, created: DateTime<Utc>| {
        if let Some(h) = &step.history {
            state.history.push(History {
                created: Some(created),
                created_by: Some(h.created_by.clone()),
                comment: Some("buildkit.dockerfile.v0".into()),
                empty_layer: h.empty_layer || !layer,
                ..Default::default()
            });
        }
    };
    if !step.op.makes_layer() {
        let created = state.created.unwrap_or(now);
        record_history(state, false, created);
        state.key = key;
        return Ok(true);
    }
    let stage_filtered = shared.request.no_cache_filter.iter().any(|f| {
        ctx.stage.name.as_deref() == Some(f.to_lowercase().as_str())
            || *f == ctx.stage.index.to_string()
    });
    let use_cache = !shared.request.no_cache && !stage_filtered;
    if use_cache {
        if let Some(record) = store.cache_get(&key)? {
            let _ = store.cache_touch(&key);
            let layer = match (&record.layer, &record.diff_id) {
                (Some(d), Some(diff)) => Some(LayerRef {
                    descriptor: d.clone(),
                    diff_id: *diff,
                }),
                _ => None,
            };
            let created = match shared.request.source_date_epoch {
                Some(_) => now,
                None => record.created,
            };
            record_history(state, layer.is_some(), created);
            if let Some(layer) = layer {
                state.layers.push(layer);
            }
            state.created = Some(created);
            state.key = key;
            return Ok(true);
        }
    }
    if shared.request.explain_cache {
        let reason = if !use_cache {
            "the cache is disabled for this step (--no-cache / --no-cache-filter)".to_string()
        } else {
            explain_miss(store, &state.key, &inputs)?
        };
        shared.progress.event(Event::Explain {
            id: ctx.step_id,
            reason,
        });
    }
    let lowers = rootfs::snapshots(store, &state.layers)?;
    let tmp = tempdir(store, "step")?;
    let tree = tmp.path().join("tree");
    std::fs::create_dir(&tree).map_err(|e| SolveError::Io(tree.display().to_string(), e))?;
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir(&scratch).map_err(|e| SolveError::Io(scratch.display().to_string(), e))?;
    let output = step.op.exec(&env, &lowers, &scratch, &tree)?;
    let layer = match output {
        Output::Dir { overlay } => {
            let empty = std::fs::read_dir(&tree)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
            match empty {
                true => None,
                false => Some(commit_layer(shared, &tree, overlay)?),
            }
        }
        Output::Entries(entries, _keep) => match entries.is_empty() {
            true => None,
            false => Some(commit_entries(shared, &entries)?),
        },
    };
    let empty = layer.is_none();
    let mut record = CacheRecord::new(key, step.text.clone());
    record.created = now;
    record.last_used = now;
    record.parent_key = Some(state.key);
    record.inputs = inputs;
    if let Some(layer) = layer {
        record.layer = Some(layer.descriptor.clone());
        record.diff_id = Some(layer.diff_id);
        state.layers.push(layer);
    }
    store.cache_put(&record)?;
    record_history(state, !empty, now);
    state.created = Some(now);
    state.key = key;
    Ok(false)
}

fn tempdir(store: &Store, prefix: &str) -> Result<tempfile::TempDir, SolveError> {
    let base = store.tmp_dir();
    std::fs::create_dir_all(&base).map_err(|e| SolveError::Io(base.display().to_string(), e))?;
    tempfile::Builder::new()
        .prefix(&format!("{prefix}-"))
        .tempdir_in(&base)
        .map_err(|e| SolveError::Io(base.display().to_string(), e))
}

/// Writes `tree` as a layer blob, then keeps `tree` itself as the layer's snapshot.
fn commit_layer(
    shared: &BuildShared<'_>,
    tree: &Path,
    overlay: bool,
) -> Result<LayerRef, SolveError> {
    let store = shared.store;
    let opts = layer_options(shared, overlay);
    let mut writer = store.blob_writer()?;
    let info =
        write_layer(tree, &opts, &mut writer).map_err(|e| SolveError::Layer(e.to_string()))?;
    let (digest, size) = writer.commit(None)?;
    record_blocks(shared, &digest, &info);
    let descriptor =
        strata_cache::Descriptor::new(shared.request.compression.media_type(), digest, size);
    let diff_id = info.diff_id_or_blob(&digest);
    store.create_snapshot(&diff_id, |dest: &Path| -> Result<(), SolveError> {
        std::fs::remove_dir(dest).map_err(|e| SolveError::Io(dest.display().to_string(), e))?;
        std::fs::rename(tree, dest).map_err(|e| SolveError::Io(dest.display().to_string(), e))
    })?;
    Ok(LayerRef {
        descriptor,
        diff_id,
    })
}

fn layer_options(shared: &BuildShared<'_>, overlay: bool) -> LayerOptions {
    LayerOptions {
        compression: shared.request.compression,
        source_date_epoch: shared.request.source_date_epoch,
        overlay_whiteouts: overlay,
        threads: shared.request.compression_threads,
        block_cache: shared.block_cache.clone(),
        // Both callers write into a store blob writer, whose digest is the diffID of an
        // uncompressed layer.
        diff_id_from_blob: true,
    }
}

/// Remembers where the new blob's gzip blocks lie, for the next layer that shares some.
fn record_blocks(shared: &BuildShared<'_>, blob: &strata_cache::Digest, info: &LayerInfo) {
    if let Some(map) = &info.blocks {
        // A cache: failing to write it only costs the next build compression time.
        if let Err(e) = shared.store.blockmap_put(blob, map) {
            tracing::warn!("recording the blocks of {blob}: {e}");
        }
    }
}

/// Streams layer entries (a COPY's result) into a blob. No snapshot is made: the first step
/// that needs this layer as a lower dir unpacks the blob (most COPY layers never need one).
fn commit_entries(shared: &BuildShared<'_>, entries: &LayerTree) -> Result<LayerRef, SolveError> {
    let store = shared.store;
    let mut writer = store.blob_writer()?;
    let info = write_tree(entries, &layer_options(shared, false), &mut writer)
        .map_err(|e| SolveError::Layer(e.to_string()))?;
    let (digest, size) = writer.commit(None)?;
    record_blocks(shared, &digest, &info);
    Ok(LayerRef {
        descriptor: strata_cache::Descriptor::new(
            shared.request.compression.media_type(),
            digest,
            size,
        ),
        diff_id: info.diff_id_or_blob(&digest),
    })
}

/// A stage's or image's layers applied in order into one directory (for COPY --from).
pub(super) fn merged_tree(
    store: &Store,
    layers: &[LayerRef],
) -> Result<tempfile::TempDir, SolveError> {
    let tmp = tempdir(store, "from")?;
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).map_err(|e| SolveError::Io(root.display().to_string(), e))?;
    for layer in layers {
        let blob = store.open_blob(&layer.descriptor.digest)?;
        let (_, tar) = crate::layer::decompress(std::io::BufReader::with_capacity(1 << 16, blob))
            .map_err(|e| SolveError::Io(layer.descriptor.digest.to_string(), e))?;
        crate::layer::extract_layer(tar, &root, &Default::default())
            .map_err(|e| SolveError::Layer(e.to_string()))?;
    }
    Ok(tmp)
}
