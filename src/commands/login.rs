//! `strata login [-u USER] [-p PASS | --password-stdin] [SERVER]`: checks the credentials
//! with the registry, then records them as docker does.

use super::pull::RegistryArgs;
use crate::cli::Global;
use anyhow::Context;
use clap::Args;
use std::io::{BufRead, Read, Write};
use std::process::ExitCode;
use strata_registry::credentials::{auth_file_path, normalize_host, server_key};
use strata_registry::{AuthFile, Client, ClientOptions, Credentials};

/// Arguments of `strata login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry [default: Docker Hub]
    server: Option<String>,
    /// Username
    #[arg(short, long)]
    username: Option<String>,
    /// Password
    #[arg(short, long)]
    password: Option<String>,
    /// Take the password from stdin
    #[arg(long, conflicts_with = "password")]
    password_stdin: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub fn run(_global: &Global, args: LoginArgs) -> anyhow::Result<ExitCode> {
    let host = normalize_host(args.server.as_deref().unwrap_or("docker.io"));
    let username = match args.username {
        Some(u) => u,
        None if args.password_stdin => {
            anyhow::bail!("Must provide --username with --password-stdin")
        }
        None => {
            eprint!("Username: ");
            let _ = std::io::stderr().flush();
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim().to_string()
        }
    };
    anyhow::ensure!(!username.is_empty(), "Username is required");
    let password = if args.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the password from stdin")?;
        text.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = args.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else {
        anyhow::bail!("a password is required: use --password-stdin (or -p)")
    };
    anyhow::ensure!(!password.is_empty(), "Password is required");
    let creds = Credentials { username, password };
    let client = Client::new(ClientOptions {
        credentials: Some(creds.clone()),
        ..args.registry.options()
    })?;
    client
        .check(&host)
        .with_context(|| format!("login to {} failed", server_key(&host)))?;
    let path = auth_file_path(args.registry.authfile.as_deref());
    let mut file = AuthFile::load(&path)?;
    file.store(&host, &creds)?;
    eprintln!(
        "WARNING! Your password will be stored unencrypted in {}.",
        path.display()
    );
    println!("Login Succeeded");
    Ok(ExitCode::SUCCESS)
}
