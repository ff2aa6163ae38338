//! `strata system check [--repair]`: verify every blob and reference of the store.

use super::open_store;
use crate::cli::Global;
use crate::output::human_size;
use clap::Args;
use std::process::ExitCode;

/// Arguments of `strata system check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Remove garbage and corrupt blobs, and drop images whose manifest is gone
    #[arg(long)]
    repair: bool,
}

pub fn run(global: &Global, args: CheckArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    let report = store.check(args.repair)?;
    println!(
        "checked {} blobs ({})",
        report.blobs_checked,
        human_size(report.bytes_checked)
    );
    if let Some(err) = &report.index_error {
        println!("index.json: {err}");
    }
    for c in &report.corrupt {
        println!("corrupt blob: {} hashes to {}", c.digest, c.actual);
    }
    for m in &report.missing {
        match &m.referenced_by {
            Some(by) => println!("missing blob: {} (referenced by {by})", m.digest),
            None => println!("missing blob: {} (referenced by index.json)", m.digest),
        }
    }
    for i in &report.invalid {
        println!("invalid document {}: {}", i.digest, i.reason);
    }
    for e in &report.broken_entries {
        println!("broken image entry: {}", e.digest);
    }
    for (digest, size) in &report.unreferenced {
        println!(
            "garbage: unreferenced blob {digest} ({})",
            human_size(*size)
        );
    }
    for path in &report.temp_files {
        println!("garbage: temp file {}", path.display());
    }
    for path in &report.stray_files {
        println!("garbage: stray file {}", path.display());
    }
    for path in &report.container_garbage {
        println!("garbage: incomplete container {}", path.display());
    }
    let containers = strata_builder::container::ContainerStore::new(store.clone());
    let left = strata_builder::container::network::leftovers(&containers, args.repair)?;
    for i in &left.interfaces {
        println!("garbage: network interface {i}");
    }
    for (net, owner) in &left.addresses {
        println!("garbage: address of dead {owner} on network {net}");
    }
    for c in &left.cgroups {
        println!("garbage: cgroup strata/{c}");
    }
    if let Some(repair) = &report.repaired {
        println!(
            "repaired: removed {} files ({}), dropped {} image entries",
            repair.files_removed.len(),
            human_size(repair.bytes_freed),
            repair.entries_removed.len()
        );
    }
    let status = match (
        report.is_consistent(),
        report.has_garbage() || !left.is_empty(),
    ) {
        (true, false) => "store is clean",
        (true, true) if args.repair => "store is consistent; garbage removed",
        (true, true) => "store is consistent; garbage found (run with --repair to remove it)",
        (false, _) if args.repair => "store had errors; repaired what could be repaired",
        (false, _) => "store has errors",
    };
    println!("{status}");
    // After a repair the store is consistent unless something unrepairable remains.
    let consistent = report.is_consistent() || args.repair && store.check(false)?.is_consistent();
    Ok(if consistent {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
