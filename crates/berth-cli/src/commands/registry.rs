//! Registry commands: `login` (credentials checked by the daemon's `/auth`, then kept
//! where the docker CLI keeps them, see [`crate::credentials`]), `logout`, `search`.

use std::io::Read;

use berth_api_types::registry::AuthConfig;

use crate::cli::{LoginArgs, LogoutArgs, SearchArgs};
use crate::credentials::{convert_to_hostname, login_key, ConfigFile, DOCKER_HUB_SERVER};
use crate::{CliError, Ctx};

const NO_TTY: &str = "Error: Cannot perform an interactive login from a non TTY device";

fn cred_err(e: crate::credentials::CredentialsError) -> CliError {
    CliError::msg(e.to_string())
}

/// One line from `input`, read a byte at a time (what follows stays unread for the
/// next prompt); None at end of input.
fn read_line(input: &mut dyn Read) -> Result<Option<String>, CliError> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) if line.is_empty() => return Ok(None),
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CliError::io("reading standard input")(e)),
        }
    }
    let mut s = String::from_utf8_lossy(&line).into_owned();
    if s.ends_with('\r') {
        s.pop();
    }
    Ok(Some(s))
}

/// Asks on our output and reads the answer (without echo for a password).
fn prompt(ctx: &mut Ctx<'_>, question: &str, secret: bool) -> Result<String, CliError> {
    write!(ctx.out, "{question}").map_err(CliError::io("writing output"))?;
    let _ = ctx.out.flush();
    let echo_off = if secret && ctx.signals {
        crate::term::EchoOff::enable().map_err(CliError::io("turning terminal echo off"))?
    } else {
        None
    };
    let stdin = ctx
        .stdin
        .as_mut()
        .ok_or_else(|| CliError::msg("standard input is not available"))?;
    let answer = read_line(stdin.as_mut())?;
    if echo_off.is_some() {
        drop(echo_off);
        let _ = writeln!(ctx.out);
    }
    Ok(answer.unwrap_or_default())
}

/// Stores what logged in (an identity token in place of the password when the
/// registry gave one) and prints docker's words.
fn logged_in(
    ctx: &mut Ctx<'_>,
    cfg: &mut ConfigFile,
    key: &str,
    mut auth: AuthConfig,
    status: String,
    identity_token: String,
) -> Result<i32, CliError> {
    if !identity_token.is_empty() {
        auth.password.clear();
        auth.identitytoken = identity_token;
    }
    auth.serveraddress = key.to_string();
    let plain = cfg.store(key, &auth).map_err(cred_err)?;
    if plain {
        let _ = writeln!(
            ctx.err,
            "\nWARNING! Your credentials are stored unencrypted in '{}'.\nConfigure a credential helper to remove this warning (\"credsStore\" in that file).\n",
            cfg.path.display()
        );
    }
    let status = if status.is_empty() {
        "Login Succeeded".to_string()
    } else {
        status
    };
    writeln!(ctx.out, "{status}").map_err(CliError::io("writing output"))?;
    Ok(0)
}

/// `berth login [SERVER] [-u USER] [-p PASS | --password-stdin]`, as docker's.
pub fn login(ctx: &mut Ctx<'_>, a: &LoginArgs) -> Result<i32, CliError> {
    let mut username = a.username.clone().unwrap_or_default().trim().to_string();
    let mut password = a.password.clone().unwrap_or_default();
    if a.password.is_some() {
        let _ = writeln!(
            ctx.err,
            "WARNING! Using --password via the CLI is insecure. Use --password-stdin."
        );
        if a.password_stdin {
            return Err(CliError::msg(
                "conflicting options: cannot specify both --password and --password-stdin",
            ));
        }
    }
    if a.password_stdin {
        if username.is_empty() {
            return Err(CliError::msg(
                "the --password-stdin option requires --username to be set",
            ));
        }
        let mut all = String::new();
        ctx.stdin
            .as_mut()
            .ok_or_else(|| CliError::msg("standard input is not available"))?
            .read_to_string(&mut all)
            .map_err(CliError::io("reading the password from standard input"))?;
        password = all
            .strip_suffix('\n')
            .unwrap_or(&all)
            .strip_suffix('\r')
            .map(str::to_string)
            .unwrap_or_else(|| all.strip_suffix('\n').unwrap_or(&all).to_string());
    }
    let key = login_key(a.server.as_deref());
    let mut cfg = ConfigFile::load_default().map_err(cred_err)?;

    // No credentials given: the stored ones first, as docker does.
    let stored = cfg.get(&key).ok().flatten();
    if username.is_empty() && password.is_empty() {
        if let Some(s) = stored.as_ref().filter(|s| {
            !s.username.is_empty() && (!s.password.is_empty() || !s.identitytoken.is_empty())
        }) {
            let _ = writeln!(
                ctx.err,
                "Authenticating with existing credentials... [Username: {}]",
                s.username
            );
            let mut check = s.clone();
            check.serveraddress = key.clone();
            match ctx.client.registry_login(&check) {
                Ok(r) => return logged_in(ctx, &mut cfg, &key, check, r.status, r.identity_token),
                Err(e) if e.status() == Some(401) => {
                    let _ = writeln!(ctx.err, "Stored credentials invalid or expired");
                }
                Err(e) => {
                    let _ = writeln!(ctx.err, "Login did not succeed, error: {e}");
                }
            }
        }
    }

    if username.is_empty() {
        if !ctx.terminal {
            return Err(CliError::msg(NO_TTY));
        }
        let default = stored
            .as_ref()
            .map(|s| s.username.clone())
            .unwrap_or_default();
        let question = if default.is_empty() {
            "Username: ".to_string()
        } else {
            format!("Username ({default}): ")
        };
        username = prompt(ctx, &question, false)?.trim().to_string();
        if username.is_empty() {
            username = default;
        }
        if username.is_empty() {
            return Err(CliError::msg("Error: Non-null Username Required"));
        }
    }
    if password.is_empty() {
        if !ctx.terminal {
            return Err(CliError::msg(NO_TTY));
        }
        password = prompt(ctx, "Password: ", true)?;
        if password.is_empty() {
            return Err(CliError::msg("Error: Password Required"));
        }
    }
    let auth = AuthConfig {
        username,
        password,
        serveraddress: key.clone(),
        ..AuthConfig::default()
    };
    let r = ctx.client.registry_login(&auth)?;
    logged_in(ctx, &mut cfg, &key, auth, r.status, r.identity_token)
}

/// `berth logout [SERVER]`: removes the credentials kept for the server (under each
/// spelling the docker CLI has used for it).
pub fn logout(ctx: &mut Ctx<'_>, a: &LogoutArgs) -> Result<i32, CliError> {
    let key = login_key(a.server.as_deref());
    let mut keys = vec![key.clone()];
    if key != DOCKER_HUB_SERVER {
        let given = a.server.clone().unwrap_or_default();
        let host = convert_to_hostname(&given);
        for k in [
            given,
            host.clone(),
            format!("http://{host}"),
            format!("https://{host}"),
        ] {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    writeln!(ctx.out, "Removing login credentials for {key}")
        .map_err(CliError::io("writing output"))?;
    let mut cfg = ConfigFile::load_default().map_err(cred_err)?;
    let failed = cfg.erase(&keys).map_err(cred_err)?;
    if failed.len() == keys.len() {
        let _ = writeln!(ctx.err, "WARNING: could not erase credentials:");
        for (k, why) in failed {
            let _ = writeln!(ctx.err, "{k}: {why}");
        }
    }
    Ok(0)
}

/// `berth search [OPTIONS] TERM`.
pub fn search(ctx: &mut Ctx<'_>, a: &SearchArgs) -> Result<i32, CliError> {
    let filters = super::parse_filters(&a.filter)?;
    let results = ctx.client.search_images(&a.term, a.limit, &filters)?;
    let text = crate::format::render_search(&results, a.format.as_deref(), !a.no_trunc)?;
    ctx.out
        .write_all(text.as_bytes())
        .map_err(CliError::io("writing output"))?;
    Ok(0)
}
