//! docker's resource flags (`--memory`, `--memory-swap`, `--cpus`, `--cpu-quota`,
//! `--cpu-period`, `--cpu-shares`, `--pids-limit`) as [`Resources`], shared by `build`,
//! `create` and `run`.

use anyhow::{bail, Context};
use strata_builder::cgroup::{parse_bytes, Resources};

/// Parses the flags; `--cpus` and `--cpu-quota`/`--cpu-period` exclude each other.
pub fn parse(
    memory: Option<&str>,
    memory_swap: Option<&str>,
    cpus: Option<&str>,
    cpu_quota: Option<i64>,
    cpu_period: Option<u64>,
    cpu_shares: Option<u64>,
    pids_limit: Option<i64>,
) -> anyhow::Result<Resources> {
    let mut r = Resources {
        memory: memory
            .map(parse_bytes)
            .transpose()
            .context("invalid argument for --memory")?,
        memory_swap: memory_swap
            .map(|s| {
                if s.trim() == "-1" {
                    Ok(-1)
                } else {
                    parse_bytes(s).map(|b| b as i64)
                }
            })
            .transpose()
            .context("invalid argument for --memory-swap")?,
        cpu_quota,
        cpu_period,
        cpu_shares,
        pids_limit,
    };
    if let Some(c) = cpus {
        if cpu_quota.is_some() || cpu_period.is_some() {
            bail!("Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set");
        }
        r.set_cpus(c)?;
    }
    r.validate()?;
    Ok(r)
}
