//! What a run drives, decided from the arguments before anything starts (errors here are bad
//! arguments, exit 2), then started: a given target, `switchyard up` (`--start`), or a
//! local-runner topology (`--local`); and the chaos plan against the local runner.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::auth::{self, Credentials};
use crate::chaos::{self, ChaosPlan};
use crate::local::{self, LocalRunner, Signal};
use crate::scenario::Scenario;
use crate::target::{self, Embedded, Target};
use switchyard_proto::tls::ClientTls;

use crate::cli::RunArgs;

/// Where the run's target comes from.
#[derive(Debug, Clone)]
pub enum Mode {
    /// `switchyard up` started by the harness.
    Start,
    /// `switchyard-local up` started by the harness.
    Local { bin: PathBuf, chaos: Option<Faults> },
    /// A running target; `runner` when it is a local runner's (chaos mode, or --local-dir).
    Given { target: Target, runner: Option<LocalRunner>, chaos: Option<Faults>, credentials: Credentials },
}

/// The chaos options, checked.
#[derive(Debug, Clone)]
pub struct Faults {
    pub components: Vec<String>,
    pub start: Duration,
    pub every: Duration,
    pub signal: Signal,
}

/// Checks the target and chaos options against each other and the scenario.
pub fn resolve(args: &RunArgs, scenario: &Scenario) -> Result<Mode, String> {
    let faults = if args.chaos.is_empty() {
        None
    } else {
        chaos::check_components(&args.chaos)?;
        if args.start {
            return Err("--chaos restarts processes of the local runner (switchyard-local); it cannot restart the \
                        embedded `switchyard up` of --start: use --local, or --local-dir with a running \
                        `switchyard-local up`"
                .into());
        }
        if args.chaos_every.is_zero() {
            return Err("--chaos-every: must be more than 0".into());
        }
        let start = args.chaos_start.unwrap_or(args.chaos_every);
        if start >= scenario.duration {
            return Err(format!(
                "--chaos-start: the first fault ({start:?}) must come before the end of arrivals ({:?})",
                scenario.duration
            ));
        }
        Some(Faults { components: args.chaos.clone(), start, every: args.chaos_every, signal: args.chaos_signal })
    };
    let bin = args.switchyard_local_bin.clone().unwrap_or_else(local::default_binary);
    if args.start {
        return Ok(Mode::Start);
    }
    if args.local {
        return Ok(Mode::Local { bin, chaos: faults });
    }
    let dir = args.local_dir.clone().or_else(|| faults.is_some().then(|| PathBuf::from(local::DEFAULT_DIR)));
    let runner = dir.map(|dir| LocalRunner { bin, dir });
    let explicit =
        args.connectors.is_some() || args.router.is_some() || args.capacity.is_some() || args.automessages.is_some();
    let ports = match &runner {
        // The run directory must hold a running topology: for chaos, and for its ports.
        Some(runner) if faults.is_some() || !explicit => {
            Some(LocalRunner::target_on(runner.base_port().map_err(|e| format!("--local-dir: {e}"))?))
        }
        _ => None,
    };
    let default = ports.unwrap_or_default();
    let target = Target {
        connectors: args.connectors.clone().unwrap_or(default.connectors),
        router: args.router.clone().unwrap_or(default.router),
        capacity: args.capacity.clone().unwrap_or(default.capacity),
        automessages: args.automessages.clone().unwrap_or(default.automessages),
        tls: client_tls(args)?,
    };
    let credentials = given_credentials(args, runner.as_ref())?;
    Ok(Mode::Given { target, runner, chaos: faults, credentials })
}

/// The credentials for a running target: none with --no-auth, --signing-key-file, else the
/// local runner's signing key when the target is a local runner's.
fn given_credentials(args: &RunArgs, runner: Option<&LocalRunner>) -> Result<Credentials, String> {
    let partner = args.partner_auth.unwrap_or_default();
    if args.no_auth {
        return Ok(Credentials::none());
    }
    if let Some(file) = &args.signing_key_file {
        return Credentials::from_key_file(file, &args.issuer, &args.audience, partner).map_err(|e| format!("{e:#}"));
    }
    if let Some(runner) = runner {
        let config = runner.service_config();
        if config.is_file() {
            return auth::from_local_config(&config, partner)
                .map(|c| c.unwrap_or_else(Credentials::none))
                .map_err(|e| format!("--local-dir: {e:#}"));
        }
    }
    Err("the target needs credentials: pass --signing-key-file (the HS256 secret of an issuer it trusts, with \
         --issuer and --audience), --local-dir for a local runner's topology, or --no-auth if it runs with \
         auth.mode = \"disabled\""
        .into())
}

/// The TLS of `--tls-ca`, `--tls-cert`, `--tls-key` and `--tls-domain` (None without
/// `--tls-ca`); a file that cannot be used is a bad argument naming the flag.
fn client_tls(args: &RunArgs) -> Result<Option<Arc<ClientTls>>, String> {
    let Some(ca) = &args.tls_ca else {
        return Ok(None);
    };
    let mut tls = ClientTls::from_ca_file("--tls-ca", ca).map_err(|e| e.to_string())?;
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            tls = tls.with_identity_files(("--tls-cert", "--tls-key"), cert, key).map_err(|e| e.to_string())?
        }
        (None, None) => {}
        _ => return Err("--tls-cert and --tls-key go together (the client certificate for mTLS and its key)".into()),
    }
    if let Some(domain) = &args.tls_domain {
        tls = tls.with_domain(domain.clone());
    }
    Ok(Some(Arc::new(tls)))
}

/// A started run's target, and what to stop after it.
pub struct Launched {
    pub target: Target,
    pub label: String,
    pub chaos: Option<ChaosPlan>,
    pub credentials: Credentials,
    embedded: Option<Embedded>,
    local: Option<(LocalRunner, tempfile::TempDir)>,
}

fn missing_local(bin: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "switchyard-local not found at {} (build it with `cargo build --release -p switchyard-deploy`, or pass \
         --switchyard-local-bin)",
        bin.display()
    )
}

fn plan(faults: Option<Faults>, runner: &LocalRunner, scenario: &Scenario) -> anyhow::Result<Option<ChaosPlan>> {
    let Some(f) = faults else { return Ok(None) };
    if !local::binary_exists(&runner.bin) {
        return Err(missing_local(&runner.bin));
    }
    Ok(Some(ChaosPlan {
        components: f.components,
        start: f.start,
        every: f.every,
        signal: f.signal,
        until: scenario.duration,
        runner: runner.clone(),
    }))
}

/// Starts what `mode` says (nothing for a given target).
pub async fn launch(
    args: &RunArgs,
    scenario: &Scenario,
    path: &Path,
    results_dir: &Path,
    mode: Mode,
) -> anyhow::Result<Launched> {
    match mode {
        Mode::Start => {
            let binary = args.switchyard_bin.clone().unwrap_or_else(target::default_binary);
            let config = path.is_dir().then(|| path.join("switchyard.toml")).filter(|p| p.is_file());
            let up = Embedded::start(&binary, config.as_deref(), results_dir, !args.no_auth).await?;
            eprintln!("started switchyard up ({}), log {}", up.target.connectors, up.log.display());
            let credentials = up.credentials(args.partner_auth.unwrap_or_default())?;
            Ok(Launched {
                target: up.target.clone(),
                label: label("embedded", &credentials),
                chaos: None,
                credentials,
                embedded: Some(up),
                local: None,
            })
        }
        Mode::Local { bin, chaos } => {
            if !local::binary_exists(&bin) {
                return Err(missing_local(&bin));
            }
            let dir = tempfile::Builder::new().prefix("switchyard-local.").tempdir()?;
            let runner = LocalRunner { bin, dir: dir.path().to_path_buf() };
            let base = local::free_base_port()?;
            eprintln!("starting switchyard-local up --dir {} --base-port {base}", runner.dir.display());
            if let Err(err) = runner.up(base, args.switchyard_bin.as_deref(), args.no_auth).await {
                // Whatever did start goes; the logs stay for a look.
                let _ = runner.stop().await;
                let kept = dir.keep();
                return Err(
                    err.context(format!("starting the local topology (logs in {})", kept.join("logs").display()))
                );
            }
            let prepared = plan(chaos, &runner, scenario).and_then(|chaos| {
                let config = runner.service_config();
                let credentials = auth::from_local_config(&config, args.partner_auth.unwrap_or_default())?;
                Ok((chaos, credentials.unwrap_or_else(Credentials::none)))
            });
            let (chaos, credentials) = match prepared {
                Ok(prepared) => prepared,
                Err(err) => {
                    let _ = runner.stop().await;
                    return Err(err);
                }
            };
            Ok(Launched {
                target: LocalRunner::target_on(base),
                label: label(&format!("local (switchyard-local, base port {base})"), &credentials),
                chaos,
                credentials,
                embedded: None,
                local: Some((runner, dir)),
            })
        }
        Mode::Given { target, runner, chaos, credentials } => {
            let chaos = match &runner {
                Some(runner) => plan(chaos, runner, scenario)?,
                None => None,
            };
            let label = label(&target.connectors, &credentials);
            Ok(Launched { target, label, chaos, credentials, embedded: None, local: None })
        }
    }
}

/// The target's name in the result, saying when it ran without authentication or with minted
/// partner tokens (the default, partner keys, is not mentioned).
fn label(target: &str, credentials: &Credentials) -> String {
    match credentials.label() {
        "none" => format!("{target}, no auth"),
        "jwt" => format!("{target}, partner tokens"),
        _ => target.to_owned(),
    }
}

impl Launched {
    /// Stops what the harness started; a local topology's directory is kept (and named) when
    /// the run did not pass.
    pub async fn stop(self, passed: bool) {
        if let Some(up) = self.embedded {
            if let Err(err) = up.stop().await {
                eprintln!("warning: {err:#}");
            }
        }
        if let Some((runner, dir)) = self.local {
            if let Err(err) = runner.stop().await {
                eprintln!("warning: {err:#}");
            }
            if !passed {
                let kept = dir.keep();
                eprintln!("the local topology's logs are kept in {}", kept.join("logs").display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario() -> Scenario {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join("steady");
        let mut s = Scenario::load(&path).unwrap();
        s.duration = Duration::from_secs(120);
        s
    }

    fn with_state(base: u16) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("state.json"), format!(r#"{{"base_port":{base}}}"#)).unwrap();
        dir
    }

    #[test]
    fn chaos_against_a_local_run_directory_takes_its_ports() {
        let run = with_state(18000);
        let mut args = RunArgs::new("steady");
        args.chaos = vec!["router".into(), "broker".into()];
        args.local_dir = Some(run.path().to_path_buf());
        args.no_auth = true;
        let Mode::Given { target, runner, chaos, .. } = resolve(&args, &scenario()).unwrap() else { panic!() };
        assert_eq!(target.connectors, "http://127.0.0.1:18001");
        assert_eq!(target.capacity, "http://127.0.0.1:18003");
        assert_eq!(runner.unwrap().dir, run.path());
        let chaos = chaos.unwrap();
        assert_eq!(
            (chaos.start, chaos.every, chaos.signal),
            (Duration::from_secs(15), Duration::from_secs(15), Signal::Kill)
        );
        // Explicit endpoints win.
        args.router = Some("http://10.0.0.1:9".into());
        let Mode::Given { target, .. } = resolve(&args, &scenario()).unwrap() else { panic!() };
        assert_eq!(
            (target.router.as_str(), target.connectors.as_str()),
            ("http://10.0.0.1:9", "http://127.0.0.1:18001")
        );
    }

    #[test]
    fn bad_chaos_options_are_named() {
        let run = with_state(18000);
        let base = || {
            let mut args = RunArgs::new("steady");
            args.chaos = vec!["router".into()];
            args.local_dir = Some(run.path().to_path_buf());
            args.no_auth = true;
            args
        };
        let mut args = base();
        args.chaos.push("zookeeper".into());
        assert!(resolve(&args, &scenario()).unwrap_err().contains("unknown component \"zookeeper\""));

        let mut args = base();
        args.local_dir = None;
        args.start = true;
        assert!(resolve(&args, &scenario()).unwrap_err().contains("cannot restart the embedded"));

        let mut args = base();
        args.local_dir = Some(run.path().join("nothing-here"));
        let err = resolve(&args, &scenario()).unwrap_err();
        assert!(err.starts_with("--local-dir: no switchyard-local run in"), "{err}");

        let mut args = base();
        args.chaos_start = Some(Duration::from_secs(120));
        assert!(resolve(&args, &scenario()).unwrap_err().starts_with("--chaos-start"));

        let mut args = base();
        args.chaos_every = Duration::ZERO;
        assert!(resolve(&args, &scenario()).unwrap_err().starts_with("--chaos-every"));

        // --local needs no run directory: it makes its own.
        let mut args = base();
        args.local_dir = None;
        args.local = true;
        assert!(matches!(resolve(&args, &scenario()).unwrap(), Mode::Local { chaos: Some(_), .. }));
    }

    #[test]
    fn without_chaos_or_a_run_directory_the_defaults_stand() {
        let mut args = RunArgs::new("steady");
        args.no_auth = true;
        let Mode::Given { target, runner, chaos, credentials } = resolve(&args, &scenario()).unwrap() else { panic!() };
        assert_eq!(target.connectors, Target::default().connectors);
        assert!(runner.is_none() && chaos.is_none() && !credentials.enabled());
    }

    #[test]
    fn a_running_target_needs_credentials_from_a_key_file_or_the_local_runner() {
        let err = resolve(&RunArgs::new("steady"), &scenario()).unwrap_err();
        assert!(err.contains("needs credentials") && err.contains("--signing-key-file"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let key = auth::write_secret(dir.path()).unwrap();
        let mut args = RunArgs::new("steady");
        args.signing_key_file = Some(key.clone());
        let Mode::Given { credentials, .. } = resolve(&args, &scenario()).unwrap() else { panic!() };
        assert!(credentials.enabled() && credentials.partner_keys());
        args.signing_key_file = Some(dir.path().join("missing.key"));
        assert!(resolve(&args, &scenario()).unwrap_err().starts_with("--signing-key-file: "));

        // A local runner's run directory: its services' signing section.
        let run = with_state(18000);
        std::fs::create_dir(run.path().join("config")).unwrap();
        std::fs::write(
            run.path().join("config/connectors.toml"),
            format!("[auth.signing]\nissuer = \"switchyard-local\"\nkey_file = \"{}\"\n", key.display()),
        )
        .unwrap();
        let mut args = RunArgs::new("steady");
        args.local_dir = Some(run.path().to_path_buf());
        args.partner_auth = Some(auth::PartnerAuth::Token);
        let Mode::Given { credentials, .. } = resolve(&args, &scenario()).unwrap() else { panic!() };
        assert!(credentials.enabled() && !credentials.partner_keys());
    }
}
