//! `strata ps [-a] [-q] [--no-trunc] [--filter K=V]... [--format table|json]`.

use super::open_store;
use crate::cli::Global;
use crate::output::{human_ago, human_duration, print_table};
use chrono::Utc;
use clap::Args;
use std::process::ExitCode;
use strata_builder::container::ps::{ps, PsFilter};
use strata_builder::container::{Container, ContainerStore, Status};

/// Arguments of `strata ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output based on conditions provided (name=, status=, exited=, id=, ancestor=)
    #[arg(short = 'f', long = "filter", value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Output format: table (default) or json (one object per line)
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

/// docker's STATUS column.
pub fn status_text(c: &Container) -> String {
    let now = Utc::now();
    let st = &c.state;
    match st.status {
        Status::Created => "Created".into(),
        Status::Running | Status::Paused => {
            let since = st.started_at.unwrap_or(c.record.created);
            let up = format!("Up {}", human_duration((now - since).num_seconds().max(0)));
            if st.status == Status::Paused {
                format!("{up} (Paused)")
            } else {
                up
            }
        }
        Status::Restarting => format!(
            "Restarting ({}) {}",
            st.exit_code,
            human_ago(st.finished_at.unwrap_or(now), now)
        ),
        Status::Exited => format!(
            "Exited ({}) {}",
            st.exit_code,
            human_ago(st.finished_at.unwrap_or(now), now)
        ),
    }
}

/// docker's COMMAND column: the quoted command, cut to 20 characters with `…`.
pub fn command_text(c: &Container, no_trunc: bool) -> String {
    let cmd = c.config.argv().join(" ");
    let cmd = if !no_trunc && cmd.chars().count() > 20 {
        format!("{}…", cmd.chars().take(19).collect::<String>())
    } else {
        cmd
    };
    format!("\"{cmd}\"")
}

pub fn run(global: &Global, args: PsArgs) -> anyhow::Result<ExitCode> {
    let containers = ContainerStore::new(open_store(global)?);
    let filter = PsFilter::parse(&args.filter)?;
    let list = ps(&containers, args.all, &filter)?;
    let id = |c: &Container| {
        if args.no_trunc {
            c.id().hex()
        } else {
            c.id().short()
        }
    };
    if args.quiet {
        for c in &list {
            println!("{}", id(c));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let now = Utc::now();
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            vec![
                id(c),
                c.record.image_name.clone(),
                command_text(c, args.no_trunc),
                human_ago(c.record.created, now),
                status_text(c),
                String::new(),
                c.name().to_string(),
            ]
        })
        .collect();
    match args.format.as_deref() {
        None | Some("table") => print_table(
            &[
                "CONTAINER ID",
                "IMAGE",
                "COMMAND",
                "CREATED",
                "STATUS",
                "PORTS",
                "NAMES",
            ],
            &rows,
        ),
        Some("json") | Some("{{json .}}") => {
            for (c, r) in list.iter().zip(&rows) {
                let v = serde_json::json!({
                    "ID": r[0],
                    "Image": r[1],
                    "Command": r[2],
                    "CreatedAt": c.record.created.format("%Y-%m-%d %H:%M:%S %z UTC").to_string(),
                    "RunningFor": r[3],
                    "Status": r[4],
                    "State": c.state.status.as_str(),
                    "Ports": "",
                    "Names": r[6],
                    "Labels": c.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                    "Mounts": c.config.volumes.iter().map(|v| v.destination.clone()).collect::<Vec<_>>().join(","),
                    "Networks": match c.config.network { strata_builder::container::Network::None => "none", strata_builder::container::Network::Host => "host" },
                });
                println!("{v}");
            }
        }
        Some(other) => anyhow::bail!("unsupported --format {other:?}: table or json"),
    }
    Ok(ExitCode::SUCCESS)
}
