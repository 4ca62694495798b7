//! The command line, as clap definitions: docker's commands, flags and aliases.

use clap::{ArgAction, Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    about = "A self-sufficient runtime for containers",
    disable_version_flag = true,
    disable_help_subcommand = true,
    subcommand_required = false
)]
pub struct Cli {
    // Before the command, as docker takes it: `history` has a `-H` of its own.
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host")]
    pub host: Option<String>,
    /// Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")
    #[arg(short = 'l', long = "log-level")]
    pub log_level: Option<String>,
    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

/// docker's `--help` groups, in docker's order; commands docker has and berth does
/// not (checkpoint, plugin, the swarm ones, …) are left out, and every other
/// command is listed under "Commands".
const COMMON_COMMANDS: [&str; 12] = [
    "run", "exec", "ps", "build", "pull", "push", "images", "login", "logout", "search", "version",
    "info",
];
const MANAGEMENT_COMMANDS: [&str; 6] = [
    "builder",
    "container",
    "image",
    "network",
    "system",
    "volume",
];

/// The command line with docker's `berth --help` layout: commands in docker's groups,
/// each with its one-line description, then the global options.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let width = 12;
    let line = |name: &str, about: &str| format!("  {name:<width$}{about}\n");
    let about = |name: &str| {
        cmd.find_subcommand(name)
            .and_then(|c| c.get_about())
            .map(|a| a.to_string())
            .unwrap_or_default()
    };
    let mut groups = String::new();
    groups.push_str("Common Commands:\n");
    for name in COMMON_COMMANDS {
        groups.push_str(&line(name, &about(name)));
    }
    groups.push_str("\nManagement Commands:\n");
    for name in MANAGEMENT_COMMANDS {
        groups.push_str(&line(name, &about(name)));
    }
    groups.push_str("\nCommands:\n");
    let mut rest: Vec<&clap::Command> = cmd
        .get_subcommands()
        .filter(|c| {
            !c.is_hide_set()
                && !COMMON_COMMANDS.contains(&c.get_name())
                && !MANAGEMENT_COMMANDS.contains(&c.get_name())
        })
        .collect();
    rest.sort_by_key(|c| c.get_name());
    for c in rest {
        groups.push_str(&line(
            c.get_name(),
            &c.get_about().map(|a| a.to_string()).unwrap_or_default(),
        ));
    }
    // `daemon`, `registry` and `runtime` are dispatched before this parser sees the
    // arguments.
    groups.push_str("\nberth's own commands:\n");
    groups.push_str(&line("daemon", "Run the berth daemon (the Engine API)"));
    groups.push_str(&line(
        "registry",
        "Run an image registry server (serve) or collect its garbage (gc)",
    ));
    groups.push_str(&line(
        "runtime",
        "Run berth's OCI runtime with runc's command line (as berth-runc)",
    ));
    let template = format!(
        "Usage:  berth [OPTIONS] COMMAND\n\n{{about}}\n\n{groups}\nGlobal Options:\n{{options}}\n\nRun 'berth COMMAND --help' for more information on a command.\n"
    );
    cmd.help_template(template)
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(RestartArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Return low-level information on berth objects
    Inspect(InspectArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(ContainerArg),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(IdsArgs),
    /// Pause all processes within one or more containers
    Pause(IdsArgs),
    /// Unpause all processes within one or more containers
    Unpause(IdsArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Get real time events from the server
    Events(EventsArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Authenticate to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
    /// Search a registry (Docker Hub by default) for images
    Search(SearchArgs),
    /// Display system-wide information
    Info(FormatArgs),
    /// Show the berth version information
    Version(FormatArgs),
    /// Build an image from a Dockerfile
    Build(BuildArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// List images
    Images(ImagesArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Manage builds
    #[command(subcommand)]
    Builder(BuilderCmd),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCmd),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCmd),
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeCmd),
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCmd),
    /// Manage berth
    #[command(subcommand)]
    System(SystemCmd),
}

#[derive(Subcommand, Debug)]
pub enum NetworkCmd {
    /// Connect a container to a network
    Connect(NetworkConnectArgs),
    /// Create a network
    Create(NetworkCreateArgs),
    /// Disconnect a container from a network
    Disconnect(NetworkDisconnectArgs),
    /// Display detailed information on one or more networks
    Inspect(NetworkInspectArgs),
    /// List networks
    #[command(name = "ls", aliases = ["list"])]
    Ls(NetworkLsArgs),
    /// Remove all unused networks
    Prune(NetworkPruneArgs),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(NetworkRmArgs),
}

#[derive(Args, Debug, Default)]
pub struct NetworkCreateArgs {
    /// Enable manual container attachment
    #[arg(long = "attachable")]
    pub attachable: bool,
    /// Auxiliary IPv4 or IPv6 addresses used by Network driver
    #[arg(long = "aux-address")]
    pub aux_address: Vec<String>,
    /// The network from which to copy the configuration
    #[arg(long = "config-from")]
    pub config_from: Option<String>,
    /// Create a configuration only network
    #[arg(long = "config-only")]
    pub config_only: bool,
    /// Driver to manage the Network
    #[arg(short = 'd', long = "driver", default_value = "bridge")]
    pub driver: String,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long = "gateway")]
    pub gateway: Vec<String>,
    /// Create swarm routing-mesh network
    #[arg(long = "ingress")]
    pub ingress: bool,
    /// Restrict external access to the network
    #[arg(long = "internal")]
    pub internal: bool,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range")]
    pub ip_range: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", default_value = "default")]
    pub ipam_driver: String,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt")]
    pub ipam_opt: Vec<String>,
    /// Enable or disable IPv6 address assignment
    #[arg(long = "ipv6")]
    pub ipv6: bool,
    /// Set metadata on a network
    #[arg(long = "label")]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// Control the network's scope
    #[arg(long = "scope")]
    pub scope: Option<String>,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long = "subnet")]
    pub subnet: Vec<String>,
    /// Name of the network
    pub name: String,
}

#[derive(Args, Debug, Default)]
pub struct NetworkLsArgs {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template (a Go template, or 'table' with or without one)
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display network IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

#[derive(Args, Debug, Default)]
pub struct NetworkInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Networks to inspect
    #[arg(required = true)]
    pub networks: Vec<String>,
}

#[derive(Args, Debug, Default)]
pub struct NetworkRmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Networks to remove
    #[arg(required = true)]
    pub networks: Vec<String>,
}

#[derive(Args, Debug, Default)]
pub struct NetworkPruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

#[derive(Args, Debug, Default)]
pub struct NetworkConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long = "alias")]
    pub alias: Vec<String>,
    /// driver options for the network
    #[arg(long = "driver-opt")]
    pub driver_opt: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long = "ip")]
    pub ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long = "ip6")]
    pub ip6: Option<String>,
    /// Add link to another container
    #[arg(long = "link")]
    pub link: Vec<String>,
    /// Add a link-local address for the container
    #[arg(long = "link-local-ip")]
    pub link_local_ip: Vec<String>,
    /// The network
    pub network: String,
    /// The container
    pub container: String,
}

#[derive(Args, Debug, Default)]
pub struct NetworkDisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// The network
    pub network: String,
    /// The container
    pub container: String,
}

#[derive(Subcommand, Debug)]
pub enum VolumeCmd {
    /// Create a volume
    Create(VolumeCreateArgs),
    /// List volumes
    #[command(name = "ls", aliases = ["list"])]
    Ls(VolumeLsArgs),
    /// Display detailed information on one or more volumes
    Inspect(VolumeInspectArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(VolumeRmArgs),
    /// Remove unused local volumes
    Prune(VolumePruneArgs),
}

#[derive(Args, Debug, Default)]
pub struct VolumeCreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long = "driver", default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long = "label")]
    pub label: Vec<String>,
    /// Specify volume name
    #[arg(long = "name")]
    pub name: Option<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// Name of the volume (given with --name or here)
    pub volume: Option<String>,
}

#[derive(Args, Debug, Default)]
pub struct VolumeLsArgs {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template (a Go template, or 'table' with or without one)
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Only display volume names
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

#[derive(Args, Debug, Default)]
pub struct VolumeInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
    /// Volumes to inspect
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

#[derive(Args, Debug, Default)]
pub struct VolumeRmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Volumes to remove
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

#[derive(Args, Debug, Default)]
pub struct VolumePruneArgs {
    /// Remove all unused volumes, not just anonymous ones (against API 1.41 every
    /// unused volume goes either way)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

#[derive(Subcommand, Debug)]
pub enum ContainerCmd {
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(RestartArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// List containers
    #[command(name = "ls", aliases = ["ps", "list"])]
    Ls(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Display detailed information on one or more containers
    Inspect(ContainerInspectArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(ContainerArg),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(IdsArgs),
    /// Pause all processes within one or more containers
    Pause(IdsArgs),
    /// Unpause all processes within one or more containers
    Unpause(IdsArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
}

#[derive(Subcommand, Debug)]
pub enum ImageCmd {
    /// List images
    #[command(name = "ls", aliases = ["list"])]
    Ls(ImagesArgs),
    /// Build an image from a Dockerfile
    Build(Box<BuildArgs>),
    /// Display detailed information on one or more images
    Inspect(ImageInspectArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    #[command(alias = "remove")]
    Rm(RmiArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Remove unused images
    Prune(ImagePruneArgs),
}

#[derive(Subcommand, Debug)]
pub enum BuilderCmd {
    /// Build an image from a Dockerfile
    Build(Box<BuildArgs>),
    /// Remove build cache
    Prune(BuilderPruneArgs),
}

/// `build`'s flags: those of the docker CLI's classic builder that berth's API
/// carries.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth build [OPTIONS] PATH | URL | -")]
pub struct BuildArgs {
    /// Add a custom host-to-IP mapping ("host:ip")
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    pub build_arg: Vec<String>,
    /// Images to consider as cache sources
    #[arg(long = "cache-from")]
    pub cache_from: Vec<String>,
    /// Compress the build context using gzip
    #[arg(long = "compress")]
    pub compress: bool,
    /// Limit the CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit the CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Skip image verification (default true)
    #[arg(long = "disable-content-trust", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub disable_content_trust: Option<bool>,
    /// Name of the Dockerfile (Default is "PATH/Dockerfile")
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// Write the image ID to the file
    #[arg(long = "iidfile")]
    pub iidfile: Option<String>,
    /// Set metadata for an image
    #[arg(long = "label")]
    pub label: Vec<String>,
    /// Memory limit
    #[arg(short = 'm', long = "memory")]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long = "network", default_value = "default")]
    pub network: String,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform")]
    pub platform: Option<String>,
    /// Always attempt to pull a newer version of the image
    #[arg(long = "pull")]
    pub pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Remove intermediate containers after a successful build
    #[arg(long = "rm", default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub rm: bool,
    /// Size of "/dev/shm"
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Squash newly built layers into a single new layer
    #[arg(long = "squash")]
    pub squash: bool,
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag")]
    pub tag: Vec<String>,
    /// Set the target build stage to build.
    #[arg(long = "target")]
    pub target: Option<String>,
    /// Ulimit options
    #[arg(long = "ulimit")]
    pub ulimit: Vec<String>,
    /// The context: a directory, a URL, or - for standard input
    #[arg(value_name = "PATH | URL | -")]
    pub context: String,
}

#[derive(Args, Debug)]
pub struct BuilderPruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Provide filter values (e.g. "until=24h")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Amount of disk space to keep for cache
    #[arg(long = "keep-storage")]
    pub keep_storage: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum SystemCmd {
    /// Show berth disk usage
    Df(DfArgs),
    /// Display system-wide information
    Info(FormatArgs),
    /// Get real time events from the server
    Events(EventsArgs),
}

/// Flags of `run` and `create`.
#[derive(Args, Debug, Default, Clone)]
pub struct ContainerFlags {
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach")]
    pub attach: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Optional parent cgroup for the container
    #[arg(long = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
    /// Cgroup namespace to use (host|private)
    #[arg(long = "cgroupns")]
    pub cgroupns: Option<String>,
    /// Write the container ID to the file
    #[arg(long = "cidfile")]
    pub cidfile: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long = "cpus")]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Add a host device to the container
    #[arg(long = "device")]
    pub device: Vec<String>,
    /// Set custom DNS servers
    #[arg(long = "dns")]
    pub dns: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Container NIS domain name
    #[arg(long = "domainname")]
    pub domainname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long = "entrypoint", allow_hyphen_values = true)]
    pub entrypoint: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Expose a port or a range of ports
    #[arg(long = "expose")]
    pub expose: Vec<String>,
    /// Add additional groups to join
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long = "health-interval")]
    pub health_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries")]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h)
    #[arg(long = "health-start-period")]
    pub health_start_period: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long = "health-timeout")]
    pub health_timeout: Option<String>,
    /// Print usage
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Container host name
    #[arg(short = 'h', long = "hostname")]
    pub hostname: Option<String>,
    /// Run an init inside the container
    #[arg(long = "init")]
    pub init: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip")]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long = "ip6")]
    pub ip6: Option<String>,
    /// Container IPv4/IPv6 link-local addresses
    #[arg(long = "link-local-ip")]
    pub link_local_ip: Vec<String>,
    /// IPC mode to use
    #[arg(long = "ipc")]
    pub ipc: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file")]
    pub label_file: Vec<String>,
    /// Add link to another container
    #[arg(long = "link")]
    pub link: Vec<String>,
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long = "memory")]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container memory swappiness (0 to 100)
    #[arg(long = "memory-swappiness", allow_hyphen_values = true)]
    pub memory_swappiness: Option<i64>,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount")]
    pub mount: Vec<String>,
    /// Assign a name to the container
    #[arg(long = "name")]
    pub name: Option<String>,
    /// Connect a container to a network
    #[arg(long = "network", alias = "net")]
    pub network: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i64>,
    /// PID namespace to use
    #[arg(long = "pid")]
    pub pid: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform")]
    pub platform: Option<String>,
    /// Give extended privileges to this container
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long = "pull")]
    pub pull: Option<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Restart policy to apply when a container exits
    #[arg(long = "restart")]
    pub restart: Option<String>,
    /// Automatically remove the container when it exits
    #[arg(long = "rm")]
    pub rm: bool,
    /// Runtime to use for this container
    #[arg(long = "runtime")]
    pub runtime: Option<String>,
    /// Security Options
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub sig_proxy: Option<bool>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", allow_hyphen_values = true)]
    pub stop_timeout: Option<i64>,
    /// Storage driver options for the container
    #[arg(long = "storage-opt")]
    pub storage_opt: Vec<String>,
    /// Sysctl options
    #[arg(long = "sysctl")]
    pub sysctl: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long = "tmpfs")]
    pub tmpfs: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Ulimit options
    #[arg(long = "ulimit")]
    pub ulimit: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// User namespace to use
    #[arg(long = "userns")]
    pub userns: Option<String>,
    /// UTS namespace to use
    #[arg(long = "uts")]
    pub uts: Option<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(
        value_name = "IMAGE [COMMAND] [ARG...]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<String>,
}

#[derive(Args, Debug, Clone)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    #[command(flatten)]
    pub flags: ContainerFlags,
}

#[derive(Args, Debug, Clone)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub flags: ContainerFlags,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long = "attach")]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Containers to start (name or ID)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal")]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        alias = "timeout",
        allow_hyphen_values = true
    )]
    pub time: Option<i64>,
    /// Containers to stop (name or ID)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `restart` takes exactly `stop`'s flags.
pub type RestartArgs = StopArgs;

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal", default_value = "")]
    pub signal: String,
    /// Containers to kill (name or ID)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    /// Remove the specified link
    #[arg(short = 'l', long = "link")]
    pub link: bool,
    /// Containers to remove (name or ID)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug, Default)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print containers using a Go template
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", allow_hyphen_values = true)]
    pub last: Option<i64>,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long = "latest")]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display container IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long = "size")]
    pub size: bool,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long = "details")]
    pub details: bool,
    /// Follow log output
    #[arg(short = 'f', long = "follow")]
    pub follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long = "since")]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long = "tail", default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long = "timestamps")]
    pub timestamps: bool,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long = "until")]
    pub until: Option<String>,
    /// The container (name or ID)
    pub container: String,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format the output using the given Go template
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long = "size")]
    pub size: bool,
    /// Return JSON for specified type
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Objects to inspect (name or ID)
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ContainerInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long = "size")]
    pub size: bool,
    /// Containers to inspect (name or ID)
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ImageInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
    /// Images to inspect (name or ID)
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ContainerArg {
    /// The container (name or ID)
    pub container: String,
}

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long = "author")]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long = "message")]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long = "pause", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,
    /// The container (name or ID)
    pub container: String,
    /// REPOSITORY[:TAG]
    pub repository: Option<String>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output")]
    pub output: Option<String>,
    /// The container (name or ID)
    pub container: String,
}

/// `cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-` or `cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH`
#[derive(Args, Debug)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long = "archive")]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// SRC_PATH, or CONTAINER:SRC_PATH (- reads a tar archive from STDIN)
    pub src: String,
    /// DEST_PATH, or CONTAINER:DEST_PATH (- writes a tar archive to STDOUT)
    pub dest: String,
}

#[derive(Args, Debug)]
pub struct TopArgs {
    /// The container (name or ID)
    pub container: String,
    /// Options for ps (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// CONTAINER COMMAND [ARG...]
    #[arg(
        value_name = "CONTAINER COMMAND [ARG...]",
        required = true,
        num_args = 2..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub sig_proxy: Option<bool>,
    /// The container (name or ID)
    pub container: String,
}

#[derive(Args, Debug)]
pub struct IdsArgs {
    /// Containers (name or ID)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RenameArgs {
    /// The container (name or ID)
    pub container: String,
    /// Its new name
    pub new_name: String,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long = "cpus")]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long = "memory")]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long = "restart")]
    pub restart: Option<String>,
    /// Containers to update (name or ID)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Format output using a custom template (a Go template, or 'table' with or without one)
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Containers to show (all running ones when none is given)
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long = "since")]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long = "until")]
    pub until: Option<String>,
}

#[derive(Args, Debug)]
pub struct PortArgs {
    /// The container (name or ID)
    pub container: String,
    /// PRIVATE_PORT[/PROTO]: only this mapping
    pub private_port: Option<String>,
}

#[derive(Args, Debug)]
pub struct FormatArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct DfArgs {
    /// Format output using a custom template (a Go template, or 'table' with or without one)
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

#[derive(Args, Debug, Default)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Show digests
    #[arg(long = "digests")]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template (a Go template, or 'table' with or without one)
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Only images of this repository (REPOSITORY[:TAG])
    pub repository: Option<String>,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    pub source: String,
    /// TARGET_IMAGE[:TAG]
    pub target: String,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    /// Images to remove (name or ID)
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long = "message")]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform")]
    pub platform: Option<String>,
    /// file|URL|-
    pub source: String,
    /// REPOSITORY[:TAG] to give the new image
    pub repository: Option<String>,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Skip image verification
    #[arg(long = "disable-content-trust", hide = true, default_value_t = true)]
    pub disable_content_trust: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform")]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// NAME[:TAG|@DIGEST]
    pub name: String,
}

/// `berth login`.
#[derive(Args, Debug, Default)]
#[command(about = "Authenticate to a registry.\nDefaults to Docker Hub if no server is specified.")]
pub struct LoginArgs {
    /// Password or Personal Access Token (PAT)
    #[arg(short = 'p', long = "password")]
    pub password: Option<String>,
    /// Take the Password or Personal Access Token (PAT) from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// Username
    #[arg(short = 'u', long = "username")]
    pub username: Option<String>,
    /// The registry (default: Docker Hub)
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

/// `berth logout`.
#[derive(Args, Debug, Default)]
#[command(
    about = "Log out from a registry.\nIf no server is specified, the default is Docker Hub."
)]
pub struct LogoutArgs {
    /// The registry (default: Docker Hub)
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

/// `berth search`.
#[derive(Args, Debug, Default)]
pub struct SearchArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Max number of search results
    #[arg(long = "limit")]
    pub limit: Option<u32>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// What to search for; `HOST[:PORT]/TERM` searches that registry
    #[arg(value_name = "TERM")]
    pub term: String,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Skip image signing
    #[arg(long = "disable-content-trust", hide = true, default_value_t = true)]
    pub disable_content_trust: bool,
    /// Push a platform-specific manifest as a single-platform image to the registry
    #[arg(long = "platform")]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// NAME[:TAG]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long = "input")]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output")]
    pub output: Option<String>,
    /// Images to save (name or ID)
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Format output using a custom template
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(
        short = 'H',
        long = "human",
        num_args = 0..=1,
        require_equals = true,
        default_value = "true",
        default_missing_value = "true",
        action = ArgAction::Set
    )]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// The image (name or ID)
    pub image: String,
}

#[derive(Args, Debug)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("berth").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn help_of(c: &clap::Command) -> Option<String> {
        c.get_about().map(|a| a.to_string())
    }

    /// Every subcommand has its one-line about, every argument its help.
    #[test]
    fn every_command_and_argument_has_help_text() {
        fn walk(c: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in c.get_arguments().filter(|a| !a.is_hide_set()) {
                if a.get_help().is_none_or(|h| h.to_string().trim().is_empty()) {
                    missing.push(format!("{path}: argument {}", a.get_id()));
                }
            }
            for s in c.get_subcommands().filter(|s| !s.is_hide_set()) {
                let p = format!("{path} {}", s.get_name());
                if help_of(s).is_none_or(|h| h.trim().is_empty()) {
                    missing.push(format!("{p}: no about line"));
                }
                walk(s, &p, missing);
            }
        }
        let mut cmd = command();
        cmd.build();
        let mut missing = Vec::new();
        walk(&cmd, "berth", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:#?}");
    }

    /// Wording copied from docker 28's help, "Docker" read as "berth".
    #[test]
    fn descriptions_read_like_dockers() {
        let mut cmd = command();
        cmd.build();
        let sub = |path: &str| -> clap::Command {
            let mut c = cmd.clone();
            for name in path.split(' ') {
                c = c
                    .find_subcommand(name)
                    .unwrap_or_else(|| panic!("no command {path}"))
                    .clone();
            }
            c
        };
        for (path, about) in [
            ("run", "Create and run a new container from an image"),
            ("exec", "Execute a command in a running container"),
            ("ps", "List containers"),
            ("system", "Manage berth"),
            ("system df", "Show berth disk usage"),
            ("version", "Show the berth version information"),
            ("inspect", "Return low-level information on berth objects"),
            ("container", "Manage containers"),
            ("container ls", "List containers"),
            (
                "container inspect",
                "Display detailed information on one or more containers",
            ),
            (
                "image inspect",
                "Display detailed information on one or more images",
            ),
            ("volume prune", "Remove unused local volumes"),
            ("network", "Manage networks"),
            ("network prune", "Remove all unused networks"),
            (
                "network inspect",
                "Display detailed information on one or more networks",
            ),
        ] {
            assert_eq!(help_of(&sub(path)).as_deref(), Some(about), "berth {path}");
        }
        for (path, flag, help) in [
            ("run", "cap-add", "Add Linux capabilities"),
            ("run", "publish", "Publish a container's port(s) to the host"),
            ("run", "storage-opt", "Storage driver options for the container"),
            ("run", "privileged", "Give extended privileges to this container"),
            ("run", "link", "Add link to another container"),
            ("create", "memory-swappiness", "Tune container memory swappiness (0 to 100)"),
            ("ps", "all", "Show all containers (default shows just running)"),
            ("rm", "force", "Force the removal of a running container (uses SIGKILL)"),
            ("logs", "since", "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)"),
            ("exec", "privileged", "Give extended privileges to the command"),
            ("network create", "internal", "Restrict external access to the network"),
            ("network ls", "quiet", "Only display network IDs"),
            ("network connect", "alias", "Add network-scoped alias for the container"),
        ] {
            let c = sub(path);
            let arg = c
                .get_arguments()
                .find(|a| a.get_long() == Some(flag))
                .unwrap_or_else(|| panic!("berth {path} has no --{flag}"));
            assert_eq!(
                arg.get_help().map(|h| h.to_string()).as_deref(),
                Some(help),
                "berth {path} --{flag}"
            );
        }
    }

    #[test]
    fn root_help_groups_commands_as_docker_does() {
        let help = command().render_help().to_string();
        let at = |s: &str| {
            help.find(s)
                .unwrap_or_else(|| panic!("{s:?} missing from\n{help}"))
        };
        assert!(
            help.starts_with(
                "Usage:  berth [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers\n"
            ),
            "{help}"
        );
        assert!(at("Common Commands:") < at("Management Commands:"));
        // Registry commands among the common ones, as docker 28 lists them.
        assert!(at("\n  push ") < at("Management Commands:"), "{help}");
        assert!(at("\n  login ") < at("Management Commands:"), "{help}");
        assert!(at("Management Commands:") < at("\nCommands:"));
        assert!(at("\nCommands:") < at("Global Options:"));
        assert!(
            help.contains("  run         Create and run a new container from an image\n"),
            "{help}"
        );
        assert!(help.contains("  system      Manage berth\n"), "{help}");
        assert!(
            help.contains("  attach      Attach local standard input"),
            "{help}"
        );
        assert!(help.contains("-H, --host"), "{help}");
        // Every command is listed once.
        use clap::CommandFactory;
        for c in Cli::command().get_subcommands() {
            let line = format!("\n  {:<12}", c.get_name());
            assert_eq!(help.matches(&line).count(), 1, "{line:?} in\n{help}");
        }
    }

    #[test]
    fn run_takes_flags_then_image_then_command_verbatim() {
        let cli = parse(&[
            "run",
            "-it",
            "--rm",
            "-e",
            "A=B",
            "--env=C=D",
            "busybox",
            "ls",
            "-l",
            "--name",
            "x",
        ]);
        let Some(Cmd::Run(run)) = cli.command else {
            panic!()
        };
        assert!(run.flags.interactive && run.flags.tty && run.flags.rm);
        assert_eq!(run.flags.env, ["A=B", "C=D"]);
        assert_eq!(run.flags.args, ["busybox", "ls", "-l", "--name", "x"]);
        assert_eq!(run.flags.name, None);
    }

    #[test]
    fn run_accepts_double_dash_and_short_h_is_hostname() {
        let cli = parse(&["run", "-d", "-h", "box", "busybox", "--", "sh"]);
        let Some(Cmd::Run(run)) = cli.command else {
            panic!()
        };
        assert!(run.detach);
        assert_eq!(run.flags.hostname.as_deref(), Some("box"));
        assert_eq!(run.flags.args, ["busybox", "--", "sh"]);
        let cli = parse(&["run", "--sig-proxy=false", "--entrypoint", "", "busybox"]);
        let Some(Cmd::Run(run)) = cli.command else {
            panic!()
        };
        assert_eq!(run.flags.sig_proxy, Some(false));
        assert_eq!(run.flags.entrypoint.as_deref(), Some(""));
    }

    #[test]
    fn history_has_its_own_dash_h_and_the_host_comes_first() {
        let cli = parse(&["-H", "unix:///x.sock", "history", "-H=false", "busybox"]);
        assert_eq!(cli.host.as_deref(), Some("unix:///x.sock"));
        let Some(Cmd::History(h)) = cli.command else {
            panic!()
        };
        assert!(!h.human);
        assert_eq!(h.image, "busybox");
        let Some(Cmd::History(h)) = parse(&["history", "-q", "--no-trunc", "x"]).command else {
            panic!()
        };
        assert!(h.human && h.quiet && h.no_trunc);
        let Some(Cmd::Image(ImageCmd::History(h))) =
            parse(&["image", "history", "--human", "x"]).command
        else {
            panic!()
        };
        assert!(h.human);
        let Some(Cmd::Image(ImageCmd::Prune(p))) =
            parse(&["image", "prune", "-af", "--filter", "until=24h"]).command
        else {
            panic!()
        };
        assert!(p.all && p.force);
        assert_eq!(p.filter, ["until=24h"]);
        let Some(Cmd::Save(s)) = parse(&["save", "-o", "a.tar", "x", "y:1"]).command else {
            panic!()
        };
        assert_eq!(s.output.as_deref(), Some("a.tar"));
        assert_eq!(s.images, ["x", "y:1"]);
    }

    #[test]
    fn container_aliases_and_globals() {
        let cli = parse(&["-H", "unix:///x.sock", "container", "ls", "-aq"]);
        assert_eq!(cli.host.as_deref(), Some("unix:///x.sock"));
        let Some(Cmd::Container(ContainerCmd::Ls(ps))) = cli.command else {
            panic!()
        };
        assert!(ps.all && ps.quiet);
        let cli = parse(&["exec", "-it", "c1", "sh", "-c", "echo hi"]);
        let Some(Cmd::Exec(e)) = cli.command else {
            panic!()
        };
        assert_eq!(e.args, ["c1", "sh", "-c", "echo hi"]);
    }
}
