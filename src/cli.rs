//! The command line: global options and the command tree (clap derive).

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

use crate::commands;

/// A daemonless OCI image builder with docker's command line.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, propagate_version = true)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct Global {
    /// Store directory [default: /var/lib/strata as root, $XDG_DATA_HOME/strata otherwise]
    #[arg(long, global = true, env = "STRATA_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Log level: error, warn, info, debug or trace
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// More log output (-v info, -vv debug, -vvv trace); `system df -v` also lists images
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// Progress output
    #[arg(long, global = true, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Progress {
    /// tty when stderr is a terminal, plain otherwise
    Auto,
    /// One line per event
    Plain,
    /// Live display redrawn in place: steps with timers, the running steps' last output
    Tty,
    /// One JSON object per event (for CI)
    Json,
    /// Nothing
    Quiet,
}

impl Global {
    /// Installs the tracing subscriber on stderr.
    pub fn init_logging(&self) {
        let level = match (&self.log_level, self.verbose) {
            (Some(level), _) => level.clone(),
            (None, 0) => "warn".into(),
            (None, 1) => "info".into(),
            (None, 2) => "debug".into(),
            (None, _) => "trace".into(),
        };
        // The HTTP stack traces raw request bytes (Authorization headers included): never
        // below info, so no log level shows registry secrets.
        let level = format!("{level},ureq=info,ureq_proto=info,rustls=info");
        let filter = tracing_subscriber::EnvFilter::try_new(&level)
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false)
            .init();
    }

    /// The store directory this invocation uses.
    pub fn root_dir(&self) -> PathBuf {
        if let Some(root) = &self.root {
            return root.clone();
        }
        if running_as_root() {
            return PathBuf::from("/var/lib/strata");
        }
        let data = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."));
        data.join("strata")
    }
}

fn running_as_root() -> bool {
    // Reading the effective uid needs no unsafe code through /proc.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Every command. Those with subcommands are docker's "Management Commands"; the help lists
/// them apart (see [`command`]). A group's entries reuse the short form's argument type, so
/// `image ls` and `images` take exactly the same flags.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an image from a Dockerfile
    Build(Box<commands::build::BuildArgs>),
    /// Create an image from a tarball of a root filesystem
    Import(commands::import::ImportArgs),
    /// List images
    Images(commands::images::ImagesArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(commands::tag::TagArgs),
    /// Remove one or more images
    Rmi(commands::rmi::RmiArgs),
    /// Return low-level information on strata objects
    Inspect(commands::inspect::InspectArgs),
    /// Show the history of an image
    History(commands::history::HistoryArgs),
    /// Save one or more images to a tar archive
    Save(commands::save::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(commands::load::LoadArgs),
    /// Download an image from a registry
    Pull(commands::pull::PullArgs),
    /// Upload an image to a registry
    Push(commands::push::PushArgs),
    /// Log in to a registry
    Login(commands::login::LoginArgs),
    /// Log out from a registry
    Logout(commands::logout::LogoutArgs),
    /// Create a new container
    Create(commands::create::CreateArgs),
    /// Create and run a new container from an image
    Run(commands::run::RunArgs),
    /// Start one or more stopped containers
    Start(commands::start::StartArgs),
    /// List containers
    Ps(commands::ps::PsArgs),
    /// Fetch the logs of a container
    Logs(commands::logs::LogsArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(commands::attach::AttachArgs),
    /// Run a command in a running container
    Exec(commands::exec::ExecArgs),
    /// Stop one or more running containers
    Stop(commands::stop::StopArgs),
    /// Kill one or more running containers
    Kill(commands::kill::KillArgs),
    /// Restart one or more containers
    Restart(commands::restart::RestartArgs),
    /// Remove one or more containers
    Rm(commands::rm::RmArgs),
    /// Pause all processes within one or more containers
    Pause(commands::pause::PauseArgs),
    /// Unpause all processes within one or more containers
    Unpause(commands::pause::PauseArgs),
    /// Display the running processes of a container
    Top(commands::top::TopArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// A container's monitor (started by `start` and `run`)
    #[command(name = "container-monitor", hide = true)]
    ContainerMonitor(commands::container_monitor::MonitorArgs),
    /// Create a new image from a container's changes
    Commit(commands::commit::CommitArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(commands::diff::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(commands::export::ExportArgs),
    /// Search Docker Hub or a registry for images
    Search(commands::search::SearchArgs),
    /// Show the strata version information
    Version(commands::version::VersionArgs),
    /// Display system-wide information
    Info(commands::info::InfoArgs),
    /// Manage builds
    #[command(subcommand)]
    Builder(BuilderCommand),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage strata
    #[command(subcommand)]
    System(SystemCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(commands::network::NetworkCommand),
    /// Display a live stream of container(s) resource usage statistics
    Stats(commands::stats::StatsArgs),
    /// Inspect strata's internals
    #[command(subcommand)]
    Debug(commands::debug::DebugCommand),
    /// Generate a shell completion script
    Completion(commands::completion::CompletionArgs),
}

/// `strata image ...`: docker's image management commands.
// Parsed once per run: the size of `build`'s arguments does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build an image from a Dockerfile
    Build(commands::build::BuildArgs),
    /// Show the history of an image
    History(commands::history::HistoryArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(commands::import::ImportArgs),
    /// Display detailed information on one or more images
    Inspect(commands::inspect::InspectTargets),
    /// Load an image from a tar archive or STDIN
    Load(commands::load::LoadArgs),
    /// List images
    #[command(visible_alias = "list")]
    Ls(commands::images::ImagesArgs),
    /// Remove unused images
    Prune(commands::prune::PruneArgs),
    /// Download an image from a registry
    Pull(commands::pull::PullArgs),
    /// Upload an image to a registry
    Push(commands::push::PushArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(commands::rmi::RmiArgs),
    /// Save one or more images to a tar archive
    Save(commands::save::SaveArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(commands::tag::TagArgs),
}

/// `strata container ...`: docker's container management commands.
// Parsed once per run: the size of `create`'s and `run`'s arguments does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Attach local standard input, output, and error streams to a running container
    Attach(commands::attach::AttachArgs),
    /// Create a new container
    Create(commands::create::CreateArgs),
    /// Run a command in a running container
    Exec(commands::exec::ExecArgs),
    /// Display detailed information on one or more containers
    Inspect(commands::inspect::InspectTargets),
    /// Kill one or more running containers
    Kill(commands::kill::KillArgs),
    /// Fetch the logs of a container
    Logs(commands::logs::LogsArgs),
    /// List containers
    #[command(visible_aliases = ["list", "ps"])]
    Ls(commands::ps::PsArgs),
    /// Pause all processes within one or more containers
    Pause(commands::pause::PauseArgs),
    /// Remove all stopped containers
    Prune(commands::container_prune::ContainerPruneArgs),
    /// Create a new image from a container's changes
    Commit(commands::commit::CommitArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(commands::diff::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(commands::export::ExportArgs),
    /// Restart one or more containers
    Restart(commands::restart::RestartArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(commands::rm::RmArgs),
    /// Create and run a new container from an image
    Run(commands::run::RunArgs),
    /// Start one or more stopped containers
    Start(commands::start::StartArgs),
    /// Stop one or more running containers
    Stop(commands::stop::StopArgs),
    /// Display the running processes of a container
    Top(commands::top::TopArgs),
    /// Unpause all processes within one or more containers
    Unpause(commands::pause::PauseArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(commands::stats::StatsArgs),
}

/// `strata system ...`
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show disk usage
    Df(commands::df::DfArgs),
    /// Display system-wide information
    Info(commands::info::InfoArgs),
    /// Remove unused data
    Prune(commands::system_prune::SystemPruneArgs),
    /// Verify every blob and reference of the store
    Check(commands::check::CheckArgs),
}

/// `strata builder ...`
// Parsed once per run: the size of `build`'s arguments does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum BuilderCommand {
    /// Build an image from a Dockerfile
    Build(commands::build::BuildArgs),
    /// Remove build cache
    Prune(commands::builder_prune::BuilderPruneArgs),
}

/// The command tree with docker's top-level help: "Management Commands:" (the groups) apart
/// from "Commands:", both listed from the tree itself so the help cannot drift from it.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let mut groups = Vec::new();
    let mut plain = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        let entry = (sub.get_name().to_string(), about);
        if sub.has_subcommands() {
            groups.push(entry);
        } else {
            plain.push(entry);
        }
    }
    groups.sort();
    plain.sort();
    let width = groups
        .iter()
        .chain(&plain)
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(0)
        + 2;
    let list = |entries: &[(String, String)]| {
        entries
            .iter()
            .map(|(name, about)| format!("  {name:width$}{about}\n"))
            .collect::<String>()
    };
    let template = format!(
        "{{usage-heading}} {{usage}}\n\n{{about-with-newline}}\nOptions:\n{{options}}\n\n\
         Management Commands:\n{}\nCommands:\n{}\n\
         Run 'strata COMMAND --help' for more information on a command.\n",
        list(&groups),
        list(&plain)
    );
    cmd.help_template(template)
}
