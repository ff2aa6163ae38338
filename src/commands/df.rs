//! `strata system df [-v]`: disk usage by images and build cache.

use super::open_store;
use crate::cli::Global;
use crate::output::{human_size, print_table, short_id};
use clap::Args;
use std::process::ExitCode;
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
    // No container holds an image yet, so every image is reclaimable.
    let images = usage.images_bytes;
    let cache = usage.roots_only_bytes;
    print_table(
        &["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        &[
            vec![
                "Images".into(),
                usage.images.len().to_string(),
                "0".into(),
                human_size(images),
                format!("{} ({})", human_size(images), percent(images, images)),
            ],
            vec![
                "Containers".into(),
                "0".into(),
                "0".into(),
                "0B".into(),
                "0B".into(),
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
                "0".into(),
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
                let id = store
                    .image_id(&img.entry.descriptor)
                    .map(|d| short_id(&d.to_string()))
                    .unwrap_or_default();
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
                            "0".into(),
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
