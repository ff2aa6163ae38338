//! `strata logout [SERVER]`: forgets the credentials recorded for a registry.

use crate::cli::Global;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use strata_registry::credentials::{auth_file_path, normalize_host, server_key};
use strata_registry::AuthFile;

/// Arguments of `strata logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry [default: Docker Hub]
    server: Option<String>,
    /// Credentials file [default: $REGISTRY_AUTH_FILE, else ~/.docker/config.json]
    #[arg(long, value_name = "FILE")]
    authfile: Option<PathBuf>,
}

pub fn run(_global: &Global, args: LogoutArgs) -> anyhow::Result<ExitCode> {
    let host = normalize_host(args.server.as_deref().unwrap_or("docker.io"));
    let mut file = AuthFile::load(auth_file_path(args.authfile.as_deref()))?;
    // docker (20.10 and later) says this whether or not credentials were recorded.
    file.remove(&host)?;
    println!("Removing login credentials for {}", server_key(&host));
    Ok(ExitCode::SUCCESS)
}
