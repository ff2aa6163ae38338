//! `strata system df [-v]`: disk usage by images and build cache.

use super::info::disk_bytes;
use super::open_store;
use crate::cli::Global;
use crate::output::{human_size, print_table, short_id};
use clap::Args;
use std::collections::BTreeSet;
use std::process::ExitCode;
use strata_builder::container::ContainerStore;
use strata_cache::Digest;
use strata_registry::Reference;

/// Arguments of `strata system df`. docker's `-v` (detailed output) is the global `-v`.
#[derive(Debug, Args)]
pub struct DfArgs {}

fn percent(part: u64, whole: u64) -> String {
    match (part * 100).checked_div(whole) {
        Some(p) => format!("{p}%"),
        None => "0%".into(),
    }
}

pub fn run(global: &Global, _args: DfArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    let usage = store.disk_usage()?;
    let containers = ContainerStore::new(store.clone()).list()?;
    let used: BTreeSet<Digest> = containers.iter().map(|c| *c.image_id()).collect();
    // docker's arithmetic: reclaimable = total - the sizes of the images containers use.
    let images = usage.images_bytes;
    let active_images: Vec<_> = usage
        .images
        .iter()
        .filter(|i| {
            store
                .image_id(&i.entry.descriptor)
                .is_ok_and(|id| used.contains(&id))
        })
        .collect();
    let active_bytes: u64 = active_images.iter().map(|i| i.size).sum();
    let image_reclaim = images.saturating_sub(active_bytes);
    // A container's size is its writable layer (the overlay upper dir).
    let sizes: Vec<(bool, u64)> = containers
        .iter()
        .map(|c| (c.is_running(), disk_bytes(&c.upper_dir(&store))))
        .collect();
    let running = sizes.iter().filter(|(r, _)| *r).count();
    let container_bytes: u64 = sizes.iter().map(|(_, b)| b).sum();
    let container_reclaim: u64 = sizes.iter().filter(|(r, _)| !r).map(|(_, b)| b).sum();
    let cache = usage.roots_only_bytes;
    print_table(
        &["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        &[
            vec![
                "Images".into(),
                usage.images.len().to_string(),
                active_images.len().to_string(),
                human_size(images),
                format!(
                    "{} ({})",
                    human_size(image_reclaim),
                    percent(image_reclaim, images)
                ),
            ],
            vec![
                "Containers".into(),
                containers.len().to_string(),
                running.to_string(),
                human_size(container_bytes),
                format!(
                    "{} ({})",
                    human_size(container_reclaim),
                    percent(container_reclaim, container_bytes)
                ),
            ],
            vec![
                "Local Volumes".into(),
                "0".into(),
                "0".into(),
                "0B".into(),
                "0B".into(),
            ],
            vec![
                "Build Cache".into(),
                usage.cache_records.to_string(),
                "0".into(),
                human_size(cache),
                human_size(cache),
            ],
        ],
    );
    if global.verbose > 0 {
        println!("\nImages space usage:\n");
        let rows: Vec<Vec<String>> = usage
            .images
            .iter()
            .flat_map(|img| {
                let names: Vec<(String, String)> = if img.entry.names.is_empty() {
                    vec![("<none>".into(), "<none>".into())]
                } else {
                    img.entry
                        .names
                        .iter()
                        .filter_map(|n| Reference::parse_raw(n).ok())
                        .map(|r| (r.familiar_name(), r.tag().unwrap_or("<none>").to_string()))
                        .collect()
                };
                let digest = store.image_id(&img.entry.descriptor).ok();
                let id = digest.map(|d| short_id(&d.to_string())).unwrap_or_default();
                let users = containers
                    .iter()
                    .filter(|c| Some(*c.image_id()) == digest)
                    .count();
                names
                    .into_iter()
                    .map(|(repo, tag)| {
                        vec![
                            repo,
                            tag,
                            id.clone(),
                            human_size(img.size),
                            human_size(img.shared_size),
                            human_size(img.unique_size),
                            users.to_string(),
                        ]
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        print_table(
            &[
                "REPOSITORY",
                "TAG",
                "IMAGE ID",
                "SIZE",
                "SHARED SIZE",
                "UNIQUE SIZE",
                "CONTAINERS",
            ],
            &rows,
        );
    }
    Ok(ExitCode::SUCCESS)
}
