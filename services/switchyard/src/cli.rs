//! Command line: `switchyard [OPTIONS] <up|SERVICE|topics|dead-letters>`, one SERVICE
//! subcommand per service of the registry (`switchyard_registry::for_each_service!`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgMatches, FromArgMatches, Parser, Subcommand};
use serde_json::json;
use switchyard_kit::Shutdown;

use crate::config::{Config, Service};

/// Exit codes: 0 clean stop, 1 runtime failure, 2 bad configuration.
pub const EXIT_CONFIG: u8 = 2;

#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about = "Switchyard: routing cluster for contact-center messaging")]
pub struct Cli {
    /// TOML config file (layered over defaults; environment and flags override it).
    #[arg(long, global = true, env = "SWITCHYARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Kafka bootstrap servers (kafka.bootstrap_servers).
    #[arg(long, global = true)]
    pub kafka: Option<String>,
    /// Redis URL (redis.url).
    #[arg(long, global = true)]
    pub redis: Option<String>,
    /// gRPC listen address of the service run (ignored by `up`).
    #[arg(long, global = true)]
    pub grpc_addr: Option<String>,
    /// Ops HTTP listen address of the service run (ignored by `up`).
    #[arg(long, global = true)]
    pub ops_addr: Option<String>,
    /// The address `up` listens on by default (127.0.0.1: the try-out is reachable from this
    /// machine only); e.g. 0.0.0.0 in a container. Configured addresses win.
    #[arg(long, global = true, value_name = "IP")]
    pub bind: Option<std::net::IpAddr>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long, global = true)]
    pub dump_config: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run every service in one process (embedded mode unless Kafka and Redis are set).
    Up,
    /// Run one service: a subcommand per service of the registry, named after it.
    #[command(flatten)]
    Service(ServiceCommand),
    /// Create the Kafka topics (partitions and replication from the config) and exit.
    Topics,
    /// List or replay the records consumers gave up on (the dead-letter topic).
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(DeadLetters),
    /// Credentials: sign a token, print the authorization table.
    #[command(subcommand)]
    Auth(AuthCommand),
}

#[derive(Debug, Clone, Subcommand)]
pub enum AuthCommand {
    /// Print a bearer token signed with `[auth.signing]` (or `switchyard up`'s development key):
    /// how the first admin of a deployment gets in.
    IssueToken {
        /// The account the token is valid for.
        #[arg(long)]
        account: String,
        /// The user, agent or bot id (`sub`); agents and bots act only as this id.
        #[arg(long)]
        subject: String,
        /// A role (admin, agent_manager, campaign_manager, agent, bot, partner); repeatable.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// How long it is valid, e.g. 1h, 30m, 7d.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: std::time::Duration,
    },
    /// Print the authorization table (every RPC x role) as Markdown.
    Table,
}

#[derive(Debug, Clone, Subcommand)]
pub enum DeadLetters {
    /// One line per dead letter: its partition/offset, the group that gave up, the class of
    /// failure, where it came from and the error.
    List {
        /// Only those of this consumer group.
        #[arg(long)]
        group: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Publish dead letters back to the topic they came from (every group of that topic reads
    /// them again; consumers are idempotent).
    Replay {
        /// The letters to replay, as partition/offset (from `list`); repeatable.
        #[arg(long = "letter", value_name = "PARTITION/OFFSET", required_unless_present = "all")]
        letters: Vec<String>,
        /// Every letter (of `--group`, when given).
        #[arg(long, conflicts_with = "letters")]
        all: bool,
        #[arg(long)]
        group: Option<String>,
    },
}

impl Command {
    pub fn service(&self) -> Option<Service> {
        match self {
            Command::Up | Command::Topics | Command::DeadLetters(_) | Command::Auth(_) => None,
            Command::Service(ServiceCommand(service)) => Some(*service),
        }
    }
}

/// The subcommands of the registry's services: `switchyard <name>`, with its one-line help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceCommand(pub Service);

impl FromArgMatches for ServiceCommand {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        match matches.subcommand_name() {
            Some(name) => Service::from_name(name).map(Self).ok_or_else(|| {
                clap::Error::raw(clap::error::ErrorKind::InvalidSubcommand, format!("{name} is not a service\n"))
            }),
            None => {
                Err(clap::Error::raw(clap::error::ErrorKind::MissingSubcommand, "a service subcommand is required\n"))
            }
        }
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Subcommand for ServiceCommand {
    fn augment_subcommands(mut command: clap::Command) -> clap::Command {
        for service in Service::ALL {
            command = command.subcommand(clap::Command::new(service.name()).about(service.about()));
        }
        command
    }

    fn augment_subcommands_for_update(command: clap::Command) -> clap::Command {
        Self::augment_subcommands(command)
    }

    fn has_subcommand(name: &str) -> bool {
        Service::from_name(name).is_some()
    }
}

/// Loads, overrides and validates the configuration for `cli`.
pub fn load_config(cli: &Cli) -> Result<Config, String> {
    let mut overrides = serde_json::Map::new();
    if let Some(k) = &cli.kafka {
        overrides.insert("kafka".into(), json!({ "bootstrap_servers": k }));
    }
    if let Some(r) = &cli.redis {
        overrides.insert("redis".into(), json!({ "url": r }));
    }
    if let Some(service) = cli.command.service() {
        let mut addrs = serde_json::Map::new();
        if let Some(a) = &cli.grpc_addr {
            addrs.insert("grpc_addr".into(), json!(a));
        }
        if let Some(a) = &cli.ops_addr {
            addrs.insert("ops_addr".into(), json!(a));
        }
        if !addrs.is_empty() {
            overrides.insert(service.name().into(), serde_json::Value::Object(addrs));
        }
    }
    let defaults = match cli.command {
        // The try-out on a laptop: nothing listens beyond this machine unless configured.
        Command::Up => Config::listening_on(cli.bind.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))),
        _ => Config::default(),
    };
    let mut config: Config =
        switchyard_kit::config::load_over(defaults, cli.config.as_deref(), serde_json::Value::Object(overrides))
            .map_err(|e| e.to_string())?;
    if config.instance_id.is_empty() {
        config.instance_id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        config.instance_id_generated = true;
    }
    match &cli.command {
        Command::Topics | Command::DeadLetters(_) => config.validate_for_topics()?,
        Command::Auth(_) => config.auth.validate()?,
        _ => config.validate(cli.command.service())?,
    }
    Ok(config)
}

pub fn main(cli: Cli) -> ExitCode {
    let config = match load_config(&cli) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("switchyard: invalid configuration: {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Command::Auth(what) = &cli.command {
        return auth_command(&config, what);
    }
    if cli.dump_config {
        // Every key that holds a secret, in any section, is shown as "***".
        match switchyard_kit::config::redacted(&config).and_then(|tree| toml::to_string_pretty(&tree)) {
            Ok(text) => {
                print!("{text}");
                return ExitCode::SUCCESS;
            }
            Err(err) => {
                eprintln!("switchyard: cannot print configuration: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    // The TLS files of the gRPC port: missing, unreadable or not PEM is a configuration error.
    if matches!(cli.command, Command::Up | Command::Service(_)) {
        if let Err(err) = config.tls.load() {
            eprintln!("switchyard: invalid configuration: {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("switchyard: cannot start runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let mut telemetry = config.telemetry.clone();
        if let Some(service) = cli.command.service() {
            telemetry.service_name = format!("switchyard-{}", service.name());
        }
        let _guard = switchyard_kit::telemetry::init(&telemetry);
        run(cli.command.clone(), config).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("switchyard: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn auth_command(config: &Config, what: &AuthCommand) -> ExitCode {
    match what {
        AuthCommand::Table => {
            print!("{}", switchyard_auth::table::markdown());
            ExitCode::SUCCESS
        }
        AuthCommand::IssueToken { account, subject, roles, ttl } => {
            match crate::auth::issue_token(config, account, subject, roles, *ttl) {
                Ok(token) => {
                    println!("{token}");
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("switchyard: {err:#}");
                    ExitCode::from(EXIT_CONFIG)
                }
            }
        }
    }
}

async fn run(command: Command, mut config: Config) -> anyhow::Result<()> {
    match &command {
        Command::Topics => {
            let topics = crate::create_topics(&config).await?;
            tracing::info!(?topics, partitions = config.kafka.partitions, "topics ready");
            return Ok(());
        }
        Command::DeadLetters(what) => return crate::dead_letters::run(&config, what).await,
        Command::Auth(_) => return Ok(()),
        _ => {}
    }
    let dev_credentials = matches!(command, Command::Up) && crate::auth::prepare_dev(&mut config)?;
    let shutdown = Shutdown::new();
    switchyard_kit::shutdown::on_signals(shutdown.clone());
    // Bind every port before connecting anywhere: a taken port fails fast.
    let services: Vec<Service> = match command.service() {
        Some(s) => vec![s],
        None => Service::ALL.to_vec(),
    };
    let mut listeners = Vec::new();
    for service in &services {
        listeners.push((*service, crate::listeners(&config, *service).await?));
    }
    let platform = crate::platform(&config).await?;
    if dev_credentials {
        crate::auth::announce_dev(&platform, &config).await?;
    }
    if config.auth.mode == switchyard_auth::AuthMode::Disabled {
        tracing::warn!(
            "AUTHENTICATION IS DISABLED (auth.mode = \"disabled\"): anyone who reaches a gRPC port can do anything"
        );
    }
    tracing::info!(
        auth = ?config.auth.mode,
        mode = if config.kafka.bootstrap_servers.is_empty() { "embedded" } else { "distributed" },
        services = ?services.iter().map(|s| s.name()).collect::<Vec<_>>(),
        instance_id = %config.instance_id,
        grpc_tls = config.tls.mode().as_str(),
        "switchyard starting"
    );
    crate::up(platform, &config, listeners, shutdown).await
}
