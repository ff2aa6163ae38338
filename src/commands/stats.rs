//! `strata stats [-a] [--no-stream] [--no-trunc] [--format json] [CONTAINER...]`: usage of
//! running containers read from their cgroups, refreshed every second like `docker stats`.

use super::open_store;
use crate::cli::Global;
use crate::output::{human_size, print_table};
use anyhow::bail;
use clap::Args;
use serde_json::json;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use strata_builder::cgroup::{read_net_dev, Cgroup, Stats};
use strata_builder::container::{Container, ContainerStore};

/// Arguments of `strata stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Output format: table (default) or json (one object per line)
    #[arg(long)]
    format: Option<String>,
    /// Containers (all running ones when none is named)
    containers: Vec<String>,
}

/// docker's `units.BytesSize`: binary units, four significant digits ("1.02MiB").
fn bytes_size(b: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    let text = format!("{v:.4}");
    let digits = text.split('.').next().map(|d| d.len()).unwrap_or(1);
    let decimals = 4usize.saturating_sub(digits);
    let text = format!("{v:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{}", UNITS[i])
}

struct Sample {
    at: Instant,
    stats: Stats,
    net: (u64, u64),
}

fn sample(c: &Container) -> Option<Sample> {
    if !c.is_running() {
        return None;
    }
    let cg = Cgroup::at(&c.id().hex()).filter(|cg| cg.exists())?;
    Some(Sample {
        at: Instant::now(),
        stats: cg.stats(),
        net: read_net_dev(c.state.pid as u32),
    })
}

struct Row {
    id: String,
    name: String,
    cpu: String,
    mem: String,
    mem_perc: String,
    net: String,
    block: String,
    pids: String,
}

fn row(c: &Container, before: Option<&Sample>, now: Option<&Sample>, no_trunc: bool) -> Row {
    let id = if no_trunc {
        c.id().hex()
    } else {
        c.id().short()
    };
    let Some(s) = now else {
        return Row {
            id,
            name: c.name().to_string(),
            cpu: "0.00%".into(),
            mem: "0B / 0B".into(),
            mem_perc: "0.00%".into(),
            net: "0B / 0B".into(),
            block: "0B / 0B".into(),
            pids: "0".into(),
        };
    };
    let cpu = match before {
        Some(b) if s.at > b.at => {
            let wall = (s.at - b.at).as_nanos() as f64;
            let used = s.stats.cpu_ns.saturating_sub(b.stats.cpu_ns) as f64;
            used / wall * 100.0
        }
        _ => 0.0,
    };
    let st = &s.stats;
    let perc = if st.memory_limit > 0 {
        st.memory as f64 / st.memory_limit as f64 * 100.0
    } else {
        0.0
    };
    Row {
        id,
        name: c.name().to_string(),
        cpu: format!("{cpu:.2}%"),
        mem: format!(
            "{} / {}",
            bytes_size(st.memory),
            bytes_size(st.memory_limit)
        ),
        mem_perc: format!("{perc:.2}%"),
        net: format!("{} / {}", human_size(s.net.0), human_size(s.net.1)),
        block: format!(
            "{} / {}",
            human_size(st.block_read),
            human_size(st.block_write)
        ),
        pids: st.pids.to_string(),
    }
}

pub fn run(global: &Global, args: StatsArgs) -> anyhow::Result<ExitCode> {
    let json = match args.format.as_deref() {
        None | Some("table") => false,
        Some("json") | Some("{{json .}}") => true,
        Some(other) => bail!("unsupported format {other:?}: use table or json"),
    };
    let store = open_store(global)?;
    let containers = ContainerStore::new(store);
    let pick = || -> anyhow::Result<Vec<Container>> {
        if args.containers.is_empty() {
            Ok(containers
                .list()?
                .into_iter()
                .filter(|c| args.all || c.is_running())
                .collect())
        } else {
            args.containers
                .iter()
                .map(|q| containers.find(q).map_err(anyhow::Error::from))
                .collect()
        }
    };
    let mut previous: Vec<(String, Sample)> = Vec::new();
    loop {
        let list = pick()?;
        let first: Vec<Option<Sample>> = list.iter().map(sample).collect();
        if previous.is_empty() {
            // CPU % needs two readings.
            std::thread::sleep(Duration::from_millis(500));
            previous = list
                .iter()
                .zip(first)
                .filter_map(|(c, s)| s.map(|s| (c.id().hex(), s)))
                .collect();
        }
        let now: Vec<Option<Sample>> = list.iter().map(sample).collect();
        let rows: Vec<Row> = list
            .iter()
            .zip(&now)
            .map(|(c, s)| {
                let before = previous
                    .iter()
                    .find(|(id, _)| *id == c.id().hex())
                    .map(|(_, s)| s);
                row(c, before, s.as_ref(), args.no_trunc)
            })
            .collect();
        if !args.no_stream && !json {
            // docker's refresh: clear the screen, then the table.
            print!("\x1b[2J\x1b[H");
        }
        if json {
            for r in &rows {
                println!(
                    "{}",
                    json!({
                        "BlockIO": r.block, "CPUPerc": r.cpu, "Container": r.name,
                        "ID": r.id, "MemPerc": r.mem_perc, "MemUsage": r.mem,
                        "Name": r.name, "NetIO": r.net, "PIDs": r.pids,
                    })
                );
            }
        } else {
            let table: Vec<Vec<String>> = rows
                .into_iter()
                .map(|r| {
                    vec![
                        r.id, r.name, r.cpu, r.mem, r.mem_perc, r.net, r.block, r.pids,
                    ]
                })
                .collect();
            print_table(
                &[
                    "CONTAINER ID",
                    "NAME",
                    "CPU %",
                    "MEM USAGE / LIMIT",
                    "MEM %",
                    "NET I/O",
                    "BLOCK I/O",
                    "PIDS",
                ],
                &table,
            );
        }
        if args.no_stream {
            return Ok(ExitCode::SUCCESS);
        }
        previous = list
            .iter()
            .zip(now)
            .filter_map(|(c, s)| s.map(|s| (c.id().hex(), s)))
            .collect();
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::bytes_size;

    #[test]
    fn docker_bytes_size() {
        assert_eq!(bytes_size(0), "0B");
        assert_eq!(bytes_size(32 << 20), "32MiB");
        assert_eq!(bytes_size(1_069_547), "1.02MiB");
        assert_eq!(bytes_size(1536), "1.5KiB");
    }
}
