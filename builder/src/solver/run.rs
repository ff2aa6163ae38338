//! A RUN step: the stack of snapshots as overlay lower dirs, a fresh upper dir, the process in
//! the sandbox; the upper dir becomes the layer (and, renamed, that layer's snapshot).

use super::rootfs::resolve_user;
use super::{SolveError, StepContext};
use crate::dockerfile::instructions::MountType;
use crate::graph::{Source, Step};
use crate::sandbox::{MountKind, NetworkMode, Process, RunSpec, StepIo};
use std::path::PathBuf;

/// Docker's default PATH, given to a RUN whose environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Runs `step` on `lowers`; its changes are left in `upper`.
pub fn run_step(
    ctx: &StepContext<'_>,
    step: &Step,
    lowers: &[PathBuf],
    upper: &std::path::Path,
    work: &std::path::Path,
    empty_lower: &std::path::Path,
) -> Result<(), SolveError> {
    let plan = step
        .run
        .as_ref()
        .ok_or_else(|| SolveError::Internal("RUN without a plan".into()))?;
    let (uid, gid, additional_gids) = resolve_user(lowers, &step.user)?;
    let mut env: Vec<String> = step.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for (k, v) in &plan.proxy_env {
        env.push(format!("{k}={v}"));
    }
    if !step.env.iter().any(|(k, _)| k == "PATH") {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    let cwd = if step.workdir.is_empty() {
        "/".to_string()
    } else {
        step.workdir.clone()
    };
    let network = match run_network(step) {
        Some("host") => NetworkMode::Host,
        Some("none") => NetworkMode::None,
        _ => NetworkMode::Default,
    };
    let mut mounts = Vec::new();
    for (mount, source) in &plan.mounts {
        let id = if mount.cache_id.is_empty() {
            mount.target.clone()
        } else {
            mount.cache_id.clone()
        };
        let kind = match mount.kind {
            MountType::Tmpfs => MountKind::Tmpfs {
                size: (mount.size_limit > 0).then_some(mount.size_limit as u64),
            },
            MountType::Cache => MountKind::Bind {
                source: ctx.cache_mount_dir(&id)?,
                readonly: false,
            },
            MountType::Secret => {
                let secret = mount.source.clone();
                let name = if mount.cache_id.is_empty() {
                    secret.clone()
                } else {
                    mount.cache_id.clone()
                };
                MountKind::Bind {
                    source: ctx.secret(&name)?,
                    readonly: true,
                }
            }
            MountType::Bind => match source {
                Source::Context => MountKind::Bind {
                    source: ctx.context_path(&mount.source)?,
                    readonly: mount.read_only,
                },
                other => {
                    return Err(SolveError::Unsupported(format!(
                        "RUN --mount=type=bind from {other:?} is not supported yet"
                    )))
                }
            },
            MountType::Ssh => {
                return Err(SolveError::Unsupported(
                    "RUN --mount=type=ssh is not supported yet".into(),
                ))
            }
        };
        let destination = match (&mount.kind, mount.target.is_empty()) {
            (MountType::Secret, true) => format!("/run/secrets/{id}"),
            _ => mount.target.clone(),
        };
        mounts.push(crate::sandbox::Mount { destination, kind });
    }
    let lowers_for_spec = if lowers.is_empty() {
        vec![empty_lower.to_path_buf()]
    } else {
        lowers.to_vec()
    };
    let hostname = "buildkitsandbox".to_string();
    let spec = RunSpec {
        lowers: lowers_for_spec,
        upper: upper.to_path_buf(),
        work: work.to_path_buf(),
        process: Process {
            args: plan.args.clone(),
            env,
            cwd,
            uid,
            gid,
            additional_gids,
        },
        network,
        mounts,
        hostname: hostname.clone(),
        hosts: format!(
            "127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        ),
        resolv_conf: std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
    };
    if !plan.inline_files.is_empty() {
        return Err(SolveError::Unsupported(
            "RUN heredocs with a shebang are not supported yet".into(),
        ));
    }
    let status = {
        let mut out = ctx.output();
        ctx.sandbox.run_cancellable(
            &spec,
            StepIo::combined(&mut out),
            &ctx.shared.request.cancel,
        )?
    };
    if !status.success() {
        let shown = if plan.args.len() == 3 && plan.args[1] == "-c" {
            format!("{} {} {}", plan.args[0], plan.args[1], plan.args[2])
        } else {
            plan.args.join(" ")
        };
        return Err(SolveError::RunFailed {
            command: shown,
            code: status.code(),
        });
    }
    Ok(())
}

fn run_network(step: &Step) -> Option<&'static str> {
    match &step.command.instruction {
        crate::dockerfile::instructions::Instruction::Run(run) => match run.network {
            crate::dockerfile::instructions::NetworkMode::Host => Some("host"),
            crate::dockerfile::instructions::NetworkMode::None => Some("none"),
            crate::dockerfile::instructions::NetworkMode::Default => None,
        },
        _ => None,
    }
}
