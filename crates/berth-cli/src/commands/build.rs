//! `build` (also `image build`, `builder build`) and `builder prune`, as the docker
//! CLI's classic builder (`DOCKER_BUILDKIT=0`) does them: the flags checked and
//! mapped to `POST /build`'s query, the context sent as a tar (see
//! [`crate::build_context`]) after "Sending build context to Docker daemon", the
//! daemon's stream shown as it comes, and a failed step's exit code as ours.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_api_types::build::{BuildOptions, BuildUlimit};
use berth_api_types::image::ProgressDetail;
use berth_client::ClientError;

use super::parse_filters;
use crate::build_context;
use crate::cli::{BuildArgs, BuilderPruneArgs};
use crate::create_opts::FlagError;
use crate::jsonmessage::{progress_string, Display};
use crate::units::ram_in_bytes;
use crate::{CliError, Ctx};

const USAGE: &str = "Usage:  berth build [OPTIONS] PATH | URL | -";

/// A flag value refused as the docker CLI's flag parser refuses it.
fn invalid(value: &str, flag: &str, why: impl std::fmt::Display) -> FlagError {
    FlagError(format!(
        "invalid argument \"{value}\" for \"{flag}\" flag: {why}"
    ))
}

/// Go's `strconv.ParseInt` message, which the docker CLI passes on.
fn parse_int(s: &str) -> Result<i64, String> {
    s.parse::<i64>().map_err(|e| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        format!("strconv.ParseInt: parsing {s:?}: {why}")
    })
}

/// `--ulimit name=soft[:hard]`, as go-units' `ParseUlimit` reads it.
pub fn parse_ulimit(v: &str) -> Result<BuildUlimit, FlagError> {
    let bad = |why: String| invalid(v, "--ulimit", why);
    let (name, limits) = v
        .split_once('=')
        .ok_or_else(|| bad(format!("invalid ulimit argument: {v}")))?;
    if !berth_types::ulimit::NAMES.contains(&name) {
        return Err(bad(format!("invalid ulimit type: {name}")));
    }
    let parts: Vec<&str> = limits.split(':').collect();
    let (soft, hard) = match parts[..] {
        [soft] => {
            let soft = parse_int(soft).map_err(bad)?;
            (soft, soft)
        }
        [soft, hard] => {
            let hard = parse_int(hard).map_err(bad)?;
            (parse_int(soft).map_err(bad)?, hard)
        }
        _ => {
            return Err(bad(format!(
                "too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
            )))
        }
    };
    if hard != -1 && soft > hard {
        return Err(bad(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )));
    }
    Ok(BuildUlimit {
        name: name.to_string(),
        hard,
        soft,
    })
}

/// `--add-host host:ip` (or `host=ip`), as the docker CLI checks it; sent as
/// `host:ip`, an IPv6 address without its brackets.
pub fn parse_add_host(v: &str) -> Result<String, FlagError> {
    let bad = |why: String| invalid(v, "--add-host", why);
    let (host, addr) = v
        .split_once('=')
        .or_else(|| v.split_once(':'))
        .filter(|(h, _)| !h.is_empty() && !h.contains(':'))
        .ok_or_else(|| bad(format!("bad format for add-host: {v:?}")))?;
    let addr = if addr == "host-gateway" {
        addr
    } else {
        let bare = addr
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .filter(|a| !a.is_empty())
            .unwrap_or(addr);
        if bare.parse::<std::net::IpAddr>().is_err() {
            return Err(bad(format!("invalid IP address in add-host: {bare:?}")));
        }
        bare
    };
    Ok(format!("{host}:{addr}"))
}

fn size_flag(v: &Option<String>, flag: &str) -> Result<i64, FlagError> {
    match v {
        None => Ok(0),
        Some(s) => ram_in_bytes(s).map_err(|e| invalid(s, flag, e)),
    }
}

/// `build`'s flags as `POST /build`'s options, as the docker CLI maps them; `env`
/// is the client's environment (`--build-arg KEY` takes KEY's value from it, and is
/// sent as null when KEY is unset; `SOURCE_DATE_EPOCH` becomes a build arg unless
/// one is given, as buildx does; `DOCKER_DEFAULT_PLATFORM` is `--platform`'s
/// default). The Dockerfile and a remote context are the context's business.
pub fn build_options(
    a: &BuildArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BuildOptions, FlagError> {
    let mut o = BuildOptions::default();
    for t in &a.tag {
        berth_types::Reference::parse_named(t).map_err(|e| invalid(t, "-t, --tag", e))?;
        o.tags.push(t.clone());
    }
    for v in &a.build_arg {
        let (key, value) = match v.split_once('=') {
            Some((k, val)) => (k, Some(val.to_string())),
            None => (v.as_str(), env(v)),
        };
        if key.is_empty() {
            return Err(invalid(
                v,
                "--build-arg",
                format!("invalid environment variable: {v}"),
            ));
        }
        o.build_args.insert(key.to_string(), value);
    }
    if let Some(epoch) = env("SOURCE_DATE_EPOCH").filter(|e| !e.is_empty()) {
        o.build_args
            .entry("SOURCE_DATE_EPOCH".into())
            .or_insert(Some(epoch));
    }
    for v in &a.label {
        let (key, value) = v.split_once('=').unwrap_or((v.as_str(), ""));
        if key.trim().is_empty() {
            return Err(invalid(
                v,
                "--label",
                format!("invalid label '{v}': empty name"),
            ));
        }
        o.labels.insert(key.to_string(), value.to_string());
    }
    for v in &a.ulimit {
        let u = parse_ulimit(v)?;
        // A later --ulimit for the same name replaces the earlier one.
        match o.ulimits.iter_mut().find(|x| x.name == u.name) {
            Some(x) => *x = u,
            None => o.ulimits.push(u),
        }
    }
    for v in &a.add_host {
        o.extra_hosts.push(parse_add_host(v)?);
    }
    o.cache_from = a
        .cache_from
        .iter()
        .flat_map(|v| v.split(','))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect();
    o.memory = size_flag(&a.memory, "-m, --memory")?;
    o.memswap = match a.memory_swap.as_deref() {
        Some("-1") => -1,
        _ => size_flag(&a.memory_swap, "--memory-swap")?,
    };
    o.shm_size = size_flag(&a.shm_size, "--shm-size")?;
    o.cpu_shares = a.cpu_shares.unwrap_or(0);
    o.cpu_period = a.cpu_period.unwrap_or(0);
    o.cpu_quota = a.cpu_quota.unwrap_or(0);
    o.cpuset_cpus = a.cpuset_cpus.clone().unwrap_or_default();
    o.network_mode = if a.network == "default" {
        String::new()
    } else {
        a.network.clone()
    };
    o.platform = a
        .platform
        .clone()
        .or_else(|| env("DOCKER_DEFAULT_PLATFORM"))
        .filter(|p| !p.is_empty())
        .map(|p| p.to_lowercase());
    o.target = a.target.clone().filter(|t| !t.is_empty());
    o.quiet = a.quiet;
    o.rm = a.rm;
    o.force_rm = a.force_rm;
    o.no_cache = a.no_cache;
    o.pull = a.pull;
    o.squash = a.squash;
    Ok(o)
}

/// The upload's progress line, as the docker CLI's raw progress formatter writes
/// it once the context has been read: the count, a `\r`, then a `\r\n`.
fn sending_line(bytes: u64) -> String {
    let p = progress_string(
        &ProgressDetail {
            current: i64::try_from(bytes).unwrap_or(i64::MAX),
            total: 0,
        },
        200,
    );
    let endl = if p.is_empty() { "\r\n" } else { "\r" };
    format!("Sending build context to Docker daemon {p}{endl}\r\n")
}

/// Redraws the count of bytes sent so far; when it last did.
type LiveCount = (Box<dyn FnMut(u64) + Send>, Instant);

/// The context as sent: bytes counted, the end noticed, and on a terminal the count
/// redrawn (at most ten times a second) as it goes.
struct Counted<R> {
    inner: R,
    sent: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    live: Option<LiveCount>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.sent.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
        if n == 0 && !buf.is_empty() {
            self.done.store(true, Ordering::SeqCst);
        } else if let Some((show, last)) = self.live.as_mut() {
            if last.elapsed() >= Duration::from_millis(100) {
                show(total);
                *last = Instant::now();
            }
        }
        Ok(n)
    }
}

/// `build`: returns the exit status (125 for a refused flag, a failed RUN's own
/// code, else 0 or 1).
pub fn build(ctx: &mut Ctx<'_>, a: &BuildArgs) -> i32 {
    let env = |k: &str| std::env::var(k).ok();
    let opts = match build_options(a, &env) {
        Ok(mut o) => {
            // The docker config's proxies, unless a --build-arg names them.
            let host = ctx.client.host().to_string();
            if let Ok(cfg) = crate::credentials::ConfigFile::load_default() {
                for (k, v) in cfg.proxy_build_args(&host) {
                    o.build_args.entry(k).or_insert(Some(v));
                }
            }
            o
        }
        Err(e) => {
            let _ = write!(
                ctx.err,
                "{e}\n\n{USAGE}\n\nRun 'berth build --help' for more information\n"
            );
            return 125;
        }
    };
    match run_build(ctx, a, opts) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(ctx.err, "{e}");
            1
        }
    }
}

fn run_build(ctx: &mut Ctx<'_>, a: &BuildArgs, mut opts: BuildOptions) -> Result<i32, CliError> {
    if let Some(f) = a.iidfile.as_deref().filter(|f| !f.is_empty()) {
        // No stale id left behind if this build fails.
        match std::fs::remove_file(f) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(CliError::msg(format!("Removing image ID file {f}: {e}")))
            }
            _ => {}
        }
    }
    if opts.squash && !ctx.client.ping()?.experimental {
        return Err(CliError::msg(
            "\"--squash\" is only supported on a Docker daemon with experimental features enabled",
        ));
    }
    let stdin = &mut ctx.stdin;
    let prepared =
        build_context::prepare(&a.context, a.file.as_deref(), a.compress, || stdin.take())
            .map_err(|e| CliError::msg(e.to_string()))?;
    opts.dockerfile = prepared.dockerfile;
    opts.remote = prepared.remote;
    let registry_config = crate::credentials::registry_config_header();

    let quiet = a.quiet;
    let terminal = ctx.out_terminal;
    let width = if terminal {
        crate::term::size().map_or(80, |(_, cols)| cols)
    } else {
        200
    };
    let sent = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let has_body = prepared.body.is_some();
    let live: Option<LiveCount> = (terminal && !quiet && has_body).then(|| {
        let show = |n: u64| {
            let p = progress_string(
                &ProgressDetail {
                    current: i64::try_from(n).unwrap_or(i64::MAX),
                    total: 0,
                },
                200,
            );
            let mut out = io::stdout();
            let _ = write!(out, "Sending build context to Docker daemon {p}\r");
            let _ = out.flush();
        };
        (Box::new(show) as Box<dyn FnMut(u64) + Send>, Instant::now())
    });
    let body: Box<dyn Read + Send> = match prepared.body {
        Some(b) => Box::new(b),
        None => Box::new(io::empty()),
    };
    let counted = Counted {
        inner: body,
        sent: Arc::clone(&sent),
        done: Arc::clone(&done),
        live,
    };
    let _ = ctx.out.flush();

    // With -q, the docker CLI keeps the upload's line and the daemon's output aside:
    // the output is printed at the end (it is then the image id), both on failure.
    let mut prog_buf: Vec<u8> = Vec::new();
    let mut build_buf: Vec<u8> = Vec::new();
    let mut line_shown = !has_body;
    let result = {
        let out: &mut dyn Write = if quiet { &mut build_buf } else { &mut *ctx.out };
        let mut display = Display::new(out, terminal, width);
        let mut show_line = |display: &mut Display<'_>, prog: &mut Vec<u8>| {
            if line_shown || !done.load(Ordering::SeqCst) {
                return;
            }
            line_shown = true;
            let line = sending_line(sent.load(Ordering::SeqCst));
            if quiet {
                prog.extend_from_slice(line.as_bytes());
            } else {
                let _ = display.raw(line.as_bytes());
            }
        };
        let result = ctx.client.build(&opts, counted, &registry_config, |m| {
            show_line(&mut display, &mut prog_buf);
            let _ = display.message(m);
        });
        show_line(&mut display, &mut prog_buf);
        result
    };
    match result {
        Ok(id) => {
            let image_id = if quiet {
                ctx.out
                    .write_all(&build_buf)
                    .map_err(CliError::io("writing output"))?;
                String::from_utf8_lossy(&build_buf).into_owned()
            } else {
                id.unwrap_or_default()
            };
            if let Some(f) = a.iidfile.as_deref().filter(|f| !f.is_empty()) {
                if image_id.is_empty() {
                    return Err(CliError::msg(format!(
                        "Server did not provide an image ID. Cannot write {f}"
                    )));
                }
                std::fs::write(f, image_id.as_bytes())
                    .map_err(CliError::io(format!("writing the image ID to {f}")))?;
            }
            Ok(0)
        }
        Err(ClientError::Stream { message, code }) => {
            let _ = ctx.out.flush();
            if quiet {
                let _ = ctx.err.write_all(&prog_buf);
                let _ = ctx.err.write_all(&build_buf);
            }
            let _ = writeln!(ctx.err, "{message}");
            Ok(if code == 0 {
                1
            } else {
                i32::try_from(code).unwrap_or(1)
            })
        }
        Err(e) => {
            let _ = ctx.out.flush();
            if quiet {
                let _ = ctx.err.write_all(&prog_buf);
            }
            Err(e.into())
        }
    }
}

const PRUNE_DANGLING_WARNING: &str =
    "WARNING! This will remove all dangling build cache. Are you sure you want to continue?";
const PRUNE_ALL_WARNING: &str =
    "WARNING! This will remove all build cache. Are you sure you want to continue?";

/// `builder prune`: asks first unless `-f` (anything but `y` cancels quietly), then
/// lists what went and the space it freed, as docker does.
pub fn prune(ctx: &mut Ctx<'_>, a: &BuilderPruneArgs) -> Result<i32, CliError> {
    let filters = parse_filters(&a.filter)?;
    let keep_storage = match size_flag(&a.keep_storage, "--keep-storage") {
        Ok(k) => k,
        Err(e) => {
            let _ = writeln!(ctx.err, "{e}\nSee 'berth builder prune --help'.");
            return Ok(125);
        }
    };
    if !a.force {
        let warning = if a.all {
            PRUNE_ALL_WARNING
        } else {
            PRUNE_DANGLING_WARNING
        };
        if !super::confirm(ctx, warning)? {
            return Ok(0);
        }
    }
    let report = ctx.client.build_prune(a.all, &filters, keep_storage)?;
    let text = super::prune_report(
        "Deleted build cache objects",
        &report.caches_deleted,
        report.space_reclaimed,
    );
    ctx.out
        .write_all(text.as_bytes())
        .map_err(CliError::io("writing output"))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{BuilderCmd, Cli, Cmd, ImageCmd};
    use clap::Parser;
    use std::collections::BTreeMap;

    fn args(argv: &[&str]) -> BuildArgs {
        let cli = Cli::try_parse_from(std::iter::once("berth").chain(argv.iter().copied()))
            .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        match cli.command {
            Some(Cmd::Build(a)) => a,
            Some(Cmd::Image(ImageCmd::Build(a))) | Some(Cmd::Builder(BuilderCmd::Build(a))) => *a,
            other => panic!("{other:?}"),
        }
    }

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| vars.get(k).cloned()
    }

    fn opts(argv: &[&str], env: &[(&str, &str)]) -> Result<BuildOptions, FlagError> {
        build_options(&args(argv), &env_of(env))
    }

    #[test]
    fn defaults_are_what_the_docker_cli_sends_for_a_bare_build() {
        let o = opts(&["build", "."], &[]).unwrap();
        assert_eq!(o, BuildOptions::default());
        assert!(o.rm);
        assert_eq!(o.to_query(), "dockerfile=Dockerfile&version=1");
        assert_eq!(args(&["build", "."]).context, ".");
        assert_eq!(args(&["image", "build", "ctx"]).context, "ctx");
        assert_eq!(args(&["builder", "build", "-"]).context, "-");
    }

    #[test]
    fn every_flag_lands_in_its_option() {
        let o = opts(
            &[
                "build",
                "-t",
                "app:1",
                "--tag=registry.example:5000/app",
                "--build-arg",
                "A=1",
                "--build-arg",
                "FROM_ENV",
                "--build-arg",
                "UNSET",
                "--build-arg",
                "EMPTY=",
                "--label",
                "l=v=w",
                "--label",
                "bare",
                "--ulimit",
                "nofile=10:20",
                "--ulimit",
                "nproc=5",
                "--ulimit",
                "nofile=30:40",
                "--add-host",
                "db:10.0.0.2",
                "--add-host",
                "v6=[::1]",
                "--cache-from",
                "a,b",
                "--cache-from",
                "c",
                "-m",
                "100m",
                "--memory-swap",
                "-1",
                "--shm-size",
                "64m",
                "-c",
                "512",
                "--cpuset-cpus",
                "0-1",
                "--cpu-period",
                "100000",
                "--cpu-quota",
                "50000",
                "--network",
                "host",
                "--platform",
                "Linux/AMD64",
                "--target",
                "stage1",
                "-q",
                "--rm=false",
                "--force-rm",
                "--no-cache",
                "--pull",
                "-f",
                "other.Dockerfile",
                "--iidfile",
                "id.txt",
                "ctx",
            ],
            &[("FROM_ENV", "from env")],
        )
        .unwrap();
        assert_eq!(o.tags, ["app:1", "registry.example:5000/app"]);
        let args: Vec<(&str, Option<&str>)> = o
            .build_args
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        assert_eq!(
            args,
            [
                ("A", Some("1")),
                ("EMPTY", Some("")),
                ("FROM_ENV", Some("from env")),
                ("UNSET", None)
            ]
        );
        assert_eq!(o.labels.get("l").map(String::as_str), Some("v=w"));
        assert_eq!(o.labels.get("bare").map(String::as_str), Some(""));
        assert_eq!(
            o.ulimits,
            [
                BuildUlimit {
                    name: "nofile".into(),
                    hard: 40,
                    soft: 30
                },
                BuildUlimit {
                    name: "nproc".into(),
                    hard: 5,
                    soft: 5
                }
            ]
        );
        assert_eq!(o.extra_hosts, ["db:10.0.0.2", "v6:::1"]);
        assert_eq!(o.cache_from, ["a", "b", "c"]);
        assert_eq!(o.memory, 100 << 20);
        assert_eq!(o.memswap, -1);
        assert_eq!(o.shm_size, 64 << 20);
        assert_eq!(
            (o.cpu_shares, o.cpu_period, o.cpu_quota),
            (512, 100_000, 50_000)
        );
        assert_eq!(o.cpuset_cpus, "0-1");
        assert_eq!(o.network_mode, "host");
        assert_eq!(o.platform.as_deref(), Some("linux/amd64"));
        assert_eq!(o.target.as_deref(), Some("stage1"));
        assert!(o.quiet && !o.rm && o.force_rm && o.no_cache && o.pull && !o.squash);
        // The Dockerfile is the context's to name.
        assert_eq!(o.dockerfile, "Dockerfile");
    }

    #[test]
    fn the_environment_gives_source_date_epoch_and_the_default_platform() {
        let env = [
            ("SOURCE_DATE_EPOCH", "1700000000"),
            ("DOCKER_DEFAULT_PLATFORM", "linux/arm64"),
        ];
        let o = opts(&["build", "."], &env).unwrap();
        assert_eq!(
            o.build_args.get("SOURCE_DATE_EPOCH"),
            Some(&Some("1700000000".to_string()))
        );
        assert_eq!(o.platform.as_deref(), Some("linux/arm64"));
        let o = opts(
            &[
                "build",
                "--build-arg",
                "SOURCE_DATE_EPOCH=5",
                "--platform",
                "linux/amd64",
                "--network=default",
                ".",
            ],
            &env,
        )
        .unwrap();
        assert_eq!(
            o.build_args.get("SOURCE_DATE_EPOCH"),
            Some(&Some("5".to_string())),
            "a --build-arg wins"
        );
        assert_eq!(o.platform.as_deref(), Some("linux/amd64"));
        assert_eq!(o.network_mode, "", "default is not sent");
    }

    #[test]
    fn bad_values_are_refused_in_the_docker_clis_words() {
        let err = |argv: &[&str]| opts(argv, &[]).unwrap_err().to_string();
        assert_eq!(
            err(&["build", "--build-arg", "=x", "."]),
            "invalid argument \"=x\" for \"--build-arg\" flag: invalid environment variable: =x"
        );
        assert_eq!(
            err(&["build", "--ulimit", "foo=1", "."]),
            "invalid argument \"foo=1\" for \"--ulimit\" flag: invalid ulimit type: foo"
        );
        assert_eq!(
            err(&["build", "--ulimit", "nofile=x", "."]),
            "invalid argument \"nofile=x\" for \"--ulimit\" flag: strconv.ParseInt: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            err(&["build", "--ulimit", "nofile=20:10", "."]),
            "invalid argument \"nofile=20:10\" for \"--ulimit\" flag: ulimit soft limit must be less than or equal to hard limit: 20 > 10"
        );
        assert_eq!(
            err(&["build", "--ulimit", "nofile", "."]),
            "invalid argument \"nofile\" for \"--ulimit\" flag: invalid ulimit argument: nofile"
        );
        assert_eq!(
            err(&["build", "--label", "=x", "."]),
            "invalid argument \"=x\" for \"--label\" flag: invalid label '=x': empty name"
        );
        assert_eq!(
            err(&["build", "--add-host", "foo", "."]),
            "invalid argument \"foo\" for \"--add-host\" flag: bad format for add-host: \"foo\""
        );
        assert_eq!(
            err(&["build", "--add-host", "foo:bar", "."]),
            "invalid argument \"foo:bar\" for \"--add-host\" flag: invalid IP address in add-host: \"bar\""
        );
        assert_eq!(
            err(&["build", "-m", "lots", "."]),
            "invalid argument \"lots\" for \"-m, --memory\" flag: invalid size: 'lots'"
        );
        assert!(err(&["build", "-t", "Bad", "."]).starts_with(
            "invalid argument \"Bad\" for \"-t, --tag\" flag: invalid reference format"
        ));
        assert!(opts(&["build", "--ulimit", "nofile=5:-1", "."], &[]).is_ok());
        assert_eq!(
            parse_add_host("gw:host-gateway").unwrap(),
            "gw:host-gateway"
        );
    }

    #[test]
    fn the_upload_line_is_the_raw_progress_formatters() {
        assert_eq!(
            sending_line(4608),
            "Sending build context to Docker daemon  4.608kB\r\r\n"
        );
        assert_eq!(
            sending_line(255),
            "Sending build context to Docker daemon     255B\r\r\n"
        );
        assert_eq!(
            sending_line(0),
            "Sending build context to Docker daemon \r\n\r\n"
        );
    }
}
