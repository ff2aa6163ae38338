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
    /// Output format: table (default), json (one object per line), or a template of
    /// `{{.Field}}` placeholders (`table ...` for aligned columns with headers)
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

/// docker's `--format` for the simple cases: `{{.Field}}` placeholders and `\t`, one line
/// per container; a `table ` prefix adds docker's column headers and aligns the columns.
fn print_template(format: &str, objects: &[serde_json::Value]) -> anyhow::Result<()> {
    const HEADERS: [(&str, &str); 13] = [
        ("ID", "CONTAINER ID"),
        ("Image", "IMAGE"),
        ("Command", "COMMAND"),
        ("CreatedAt", "CREATED AT"),
        ("RunningFor", "CREATED"),
        ("Status", "STATUS"),
        ("State", "STATE"),
        ("Ports", "PORTS"),
        ("Names", "NAMES"),
        ("Labels", "LABELS"),
        ("Mounts", "MOUNTS"),
        ("Networks", "NETWORKS"),
        ("Size", "SIZE"),
    ];
    let (table, body) = match format.strip_prefix("table") {
        Some(rest) => (true, rest.trim_start()),
        None => (false, format),
    };
    let body = body.replace("\\t", "\t");
    // Split into literal text and field names.
    let mut parts: Vec<Result<String, String>> = Vec::new();
    let mut rest = body.as_str();
    while let Some(open) = rest.find("{{") {
        parts.push(Ok(rest[..open].to_string()));
        let close = rest[open..]
            .find("}}")
            .ok_or_else(|| anyhow::anyhow!("unclosed {{{{ in --format {format:?}"))?;
        let field = rest[open + 2..open + close].trim();
        let name = field
            .strip_prefix('.')
            .filter(|f| HEADERS.iter().any(|(k, _)| k == f))
            .ok_or_else(|| anyhow::anyhow!("unsupported field {field:?} in --format"))?;
        parts.push(Err(name.to_string()));
        rest = &rest[open + close + 2..];
    }
    parts.push(Ok(rest.to_string()));
    let render = |f: &dyn Fn(&str) -> String| {
        parts
            .iter()
            .map(|p| match p {
                Ok(text) => text.clone(),
                Err(field) => f(field),
            })
            .collect::<String>()
    };
    let lines: Vec<String> = objects
        .iter()
        .map(|o| render(&|f| o[f].as_str().map(String::from).unwrap_or_default()))
        .collect();
    if !table {
        for l in lines {
            println!("{l}");
        }
        return Ok(());
    }
    let header = render(&|f| {
        HEADERS
            .iter()
            .find(|(k, _)| *k == f)
            .map(|(_, h)| h.to_string())
            .unwrap_or_default()
    });
    let split = |l: &str| l.split('\t').map(String::from).collect::<Vec<_>>();
    let head = split(&header);
    let rows: Vec<Vec<String>> = lines.iter().map(|l| split(l)).collect();
    print_table(&head.iter().map(String::as_str).collect::<Vec<_>>(), &rows);
    Ok(())
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
                // docker lists published ports of running containers only.
                if c.is_running() {
                    ports_text(c)
                } else {
                    String::new()
                },
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
        Some(format) => {
            let objects: Vec<serde_json::Value> = list
                .iter()
                .zip(&rows)
                .map(|(c, r)| {
                    let join = |v: Vec<String>| v.join(",");
                    serde_json::json!({
                        "ID": r[0],
                        "Image": r[1],
                        "Command": r[2],
                        "CreatedAt": c.record.created.format("%Y-%m-%d %H:%M:%S %z UTC").to_string(),
                        "RunningFor": r[3],
                        "Status": r[4],
                        "State": c.state.status.as_str(),
                        "Ports": r[5],
                        "Names": r[6],
                        "Labels": join(c.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect()),
                        "Mounts": join(c.config.volumes.iter().map(|v| v.destination.clone()).collect()),
                        "Networks": match c.config.network {
                            strata_builder::container::Network::None => "none",
                            strata_builder::container::Network::Host => "host",
                            strata_builder::container::Network::Bridge => c.config.network_mode.as_str(),
                        },
                    })
                })
                .collect();
            if format == "json" || format == "{{json .}}" {
                for v in &objects {
                    println!("{v}");
                }
            } else {
                print_template(format, &objects)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// docker's PORTS column: `127.0.0.1:8080->80/tcp, ...`.
fn ports_text(c: &strata_builder::container::Container) -> String {
    c.config
        .publish
        .iter()
        .map(|p| {
            format!(
                "{}:{}->{}/{}",
                p.host_ip, p.host_port, p.container_port, p.proto
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
