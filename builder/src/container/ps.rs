//! `ps`: which containers to list (`-a`, `--filter`); the binary formats them.

use super::{Container, ContainerError, ContainerStore, Result, Status};

/// `--filter` conditions; each kind matches when any of its values does, and every kind
/// given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PsFilter {
    /// `name=`: a substring of the name.
    pub name: Vec<String>,
    /// `status=`: created, restarting, running, removing, paused, exited, dead.
    pub status: Vec<String>,
    /// `exited=N`: exited with code N.
    pub exited: Vec<i32>,
    /// `id=`: an ID prefix.
    pub id: Vec<String>,
    /// `ancestor=`: the image, as named at create, or an image ID prefix.
    pub ancestor: Vec<String>,
}

impl PsFilter {
    /// Parses `KEY=VALUE` filters.
    pub fn parse(filters: &[String]) -> Result<PsFilter> {
        let mut f = PsFilter::default();
        for spec in filters {
            let (k, v) = spec.split_once('=').ok_or_else(|| {
                ContainerError::Invalid(format!(
                    "bad format of filter (expected name=value): {spec}"
                ))
            })?;
            match k {
                "name" => f.name.push(v.trim_start_matches('/').to_string()),
                "status" => {
                    const OK: [&str; 7] = [
                        "created",
                        "restarting",
                        "running",
                        "removing",
                        "paused",
                        "exited",
                        "dead",
                    ];
                    if !OK.contains(&v) {
                        return Err(ContainerError::Invalid(format!(
                            "Invalid filter 'status={v}'"
                        )));
                    }
                    f.status.push(v.to_string())
                }
                "exited" => f.exited.push(v.parse().map_err(|_| {
                    ContainerError::Invalid(format!("invalid filter 'exited={v}'"))
                })?),
                "id" => f.id.push(v.to_string()),
                "ancestor" => f.ancestor.push(v.to_string()),
                other => return Err(ContainerError::Invalid(format!("invalid filter '{other}'"))),
            }
        }
        Ok(f)
    }

    /// Whether the filter asks for stopped containers by itself (docker lists all then).
    pub fn implies_all(&self) -> bool {
        !self.exited.is_empty() || self.status.iter().any(|s| s != "running")
    }

    /// Whether `c` passes.
    pub fn matches(&self, c: &Container) -> bool {
        let any = |v: &[String], f: &dyn Fn(&String) -> bool| v.is_empty() || v.iter().any(f);
        any(&self.name, &|n| c.name().contains(n.as_str()))
            && any(&self.status, &|s| s == c.state.status.as_str())
            && (self.exited.is_empty()
                || (c.state.status == Status::Exited && self.exited.contains(&c.state.exit_code)))
            && any(&self.id, &|p| c.id().hex().starts_with(p.as_str()))
            && any(&self.ancestor, &|a| {
                c.record.image_name == *a
                    || c.record.image_name == format!("{a}:latest")
                    || format!("{}:latest", c.record.image_name) == *a
                    || c.image_id()
                        .hex()
                        .starts_with(a.trim_start_matches("sha256:"))
            })
    }
}

/// The containers `ps` lists: running ones (every one with `all`), newest first.
pub fn ps(containers: &ContainerStore, all: bool, filter: &PsFilter) -> Result<Vec<Container>> {
    let all = all || filter.implies_all();
    Ok(containers
        .list()?
        .into_iter()
        .filter(|c| all || c.is_running())
        .filter(|c| filter.matches(c))
        .collect())
}
