//! A RUN step: the stack of snapshots as overlay lower dirs, a fresh upper dir, the process in
//! the sandbox; the upper dir becomes the layer (and, renamed, that layer's snapshot).

use super::mounts;
use super::ops::OpEnv;
use super::rootfs::resolve_user;
use super::SolveError;
use crate::graph::Step;
use crate::sandbox::{MountKind, NetworkMode, Process, RunSpec, StepIo};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// Docker's default PATH, given to a RUN whose environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Runs `step` on `lowers`; its changes are left in `upper`. `scratch` is a private
/// directory of the step (mount sources, inline files).
pub fn run_step(
    env: &OpEnv<'_>,
    step: &Step,
    lowers: &[PathBuf],
    upper: &std::path::Path,
    scratch: &std::path::Path,
) -> Result<(), SolveError> {
    let ctx = env.ctx;
    let work = scratch.join("work");
    let empty_lower = scratch.join("empty");
    for d in [&work, &empty_lower] {
        std::fs::create_dir(d).map_err(|e| SolveError::Io(d.display().to_string(), e))?;
    }
    let plan = step
        .run
        .as_ref()
        .ok_or_else(|| SolveError::Internal("RUN without a plan".into()))?;
    let (uid, gid, additional_gids) = resolve_user(lowers, &step.user)?;
    let mut env_vars: Vec<String> = step.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for (k, v) in &plan.proxy_env {
        env_vars.push(format!("{k}={v}"));
    }
    if !step.env.iter().any(|(k, _)| k == "PATH") {
        env_vars.push(format!("PATH={DEFAULT_PATH}"));
    }
    let cwd = if step.workdir.is_empty() {
        "/".to_string()
    } else {
        step.workdir.clone()
    };
    let network = match run_network(step) {
        Some("host") => NetworkMode::Host,
        Some("none") => NetworkMode::None,
        // The build-wide `--network` applies to RUNs that do not choose their own.
        _ => match &ctx.shared.request.network {
            NetworkMode::Default => ctx.shared.default_network(),
            other => other.clone(),
        },
    };
    // As docker's bridge networks: the host's resolvers that answer from another namespace.
    let resolv_conf = match network {
        NetworkMode::Join(_) => crate::net::bridged_resolv_conf(),
        _ => std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
    };
    let prepared = mounts::prepare(env, plan, &cwd, scratch)?;
    env_vars.extend(prepared.mounts_env());
    let mut mounts = prepared.mounts.clone();
    if !plan.inline_files.is_empty() {
        // BuildKit's inline_files: a heredoc starting with `#!` is a script, mounted
        // read-only at /dev/pipes/NAME (mode 0755) and executed.
        let pipes = scratch.join("pipes");
        std::fs::create_dir(&pipes).map_err(|e| SolveError::Io(pipes.display().to_string(), e))?;
        for (name, data) in &plan.inline_files {
            let file = pipes.join(name.trim_start_matches('/'));
            std::fs::write(&file, data)
                .map_err(|e| SolveError::Io(file.display().to_string(), e))?;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| SolveError::Io(file.display().to_string(), e))?;
        }
        mounts.push(crate::sandbox::Mount {
            destination: "/dev/pipes".into(),
            kind: MountKind::Bind {
                source: pipes,
                readonly: true,
            },
        });
    }
    let lowers_for_spec = if lowers.is_empty() {
        vec![empty_lower.clone()]
    } else {
        lowers.to_vec()
    };
    let hostname = "buildkitsandbox".to_string();
    let spec = RunSpec {
        lowers: lowers_for_spec,
        upper: upper.to_path_buf(),
        work: work.clone(),
        process: Process {
            args: plan.args.clone(),
            env: env_vars,
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
        resolv_conf,
        limits: ctx.shared.request.limits.clone(),
    };
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
