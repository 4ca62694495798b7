//! Routing: strips the API version from the path (refusing versions berth does not
//! speak), matches the route, and turns a handler's result into a response. Errors are
//! mapped here, once: status from the error, body `{"message": …}`.

mod build;
mod containers;
mod exec;
mod images;
mod networks;
mod streams;
mod system;
mod volumes;

use berth_api_types::system::{ApiVersion, API_VERSION, MIN_API_VERSION};
use berth_engine::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ApiError;
use crate::http::{self, Conn, Request};

/// What happens to the connection after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    KeepAlive,
    Close,
}

/// What a handler produced.
pub(crate) enum Reply {
    /// A JSON body (already serialised) with this status.
    Json(u16, Vec<u8>),
    /// No body: 204, 304, or 200/201 with an empty body.
    Empty(u16),
    /// The handler wrote the whole response itself (a stream); the connection may be
    /// reused.
    Written,
    /// The handler wrote what it could and the connection must close (a hijack, or a
    /// stream the client went away from).
    Close,
}

pub(crate) type HandlerResult = Result<Reply, ApiError>;

/// Everything a handler needs.
pub(crate) struct Ctx<'a> {
    pub engine: &'a dyn Engine,
    pub conn: &'a mut Conn,
    pub req: &'a Request,
}

/// The largest JSON request body read (a create request is a few kilobytes).
const MAX_JSON_BODY: usize = 8 << 20;

impl Ctx<'_> {
    /// Parses a JSON body as dockerd does (Go's `encoding/json` rules: any-case field
    /// names, `null` as the zero value, unknown fields ignored); None when the body is
    /// empty. Errors name the full path of the field at fault.
    pub fn json_body<T: DeserializeOwned>(&mut self) -> Result<Option<T>, ApiError> {
        let body = self.conn.read_body_to_end(MAX_JSON_BODY)?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        berth_api_types::gojson::from_slice(&body)
            .map(Some)
            .map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))
    }

    pub fn query(&self) -> &http::Query {
        &self.req.query
    }
}

/// Serialises a JSON reply (newline-terminated, as dockerd's encoder writes it).
pub(crate) fn json<T: Serialize>(status: u16, value: &T) -> HandlerResult {
    let mut body = serde_json::to_vec(value)
        .map_err(|e| ApiError::new(500, format!("cannot encode the response: {e}")))?;
    body.push(b'\n');
    Ok(Reply::Json(status, body))
}

/// Handles one request and writes its response.
pub fn dispatch(engine: &dyn Engine, conn: &mut Conn, req: &Request) -> Outcome {
    crate::debug!("Calling {} {}", req.method, req.path);
    let result = {
        let mut ctx = Ctx { engine, conn, req };
        route(&mut ctx)
    };
    let written = match result {
        Ok(Reply::Json(status, body)) => http::send(
            &mut conn.sock,
            status,
            Some("application/json"),
            &body,
            &[],
            false,
        ),
        Ok(Reply::Empty(status)) => http::send(&mut conn.sock, status, None, b"", &[], false),
        Ok(Reply::Written) => Ok(()),
        Ok(Reply::Close) => return Outcome::Close,
        Err(e) => {
            if e.status >= 500 {
                crate::error!(
                    "Handler for {} {} returned error: {}",
                    req.method,
                    req.path,
                    e.message
                );
            } else {
                crate::debug!("{} {}: {} {}", req.method, req.path, e.status, e.message);
            }
            http::send_error(&mut conn.sock, &e, req.method == "HEAD")
        }
    };
    match written {
        Ok(()) => Outcome::KeepAlive,
        Err(_) => Outcome::Close,
    }
}

/// Strips `/v1.NN` off a path, checking the version.
fn strip_version(path: &str) -> Result<&str, ApiError> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok(path);
    };
    let (ver, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let Ok(v) = ver.parse::<ApiVersion>() else {
        // Not a version (a route that starts with `v`): leave it to the router.
        return Ok(path);
    };
    if v > API_VERSION {
        return Err(ApiError::bad(format!(
            "client version {v} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    if v < MIN_API_VERSION {
        return Err(ApiError::bad(format!(
            "client version {v} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    Ok(tail)
}

/// dockerd's answers when it is not in a swarm.
const NOT_IN_SWARM: &str = "This node is not part of a swarm";
const NOT_A_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";

fn route(ctx: &mut Ctx<'_>) -> HandlerResult {
    let path = strip_version(&ctx.req.path)?.to_string();
    let method = ctx.req.method.clone();
    let trimmed = path.trim_start_matches('/');
    let segs: Vec<&str> = trimmed.split('/').collect();
    match (method.as_str(), segs.as_slice()) {
        ("GET" | "HEAD", ["_ping"]) => system::ping(ctx),
        ("GET", ["version"]) => system::version(ctx),
        ("GET", ["info"]) => system::info(ctx),
        ("GET", ["system", "df"]) => system::df(ctx),
        ("GET", ["events"]) => streams::events(ctx),
        ("POST", ["auth"]) => system::auth(ctx),
        ("POST", ["build"]) => build::build(ctx),
        ("POST", ["build", "prune"]) => build::prune(ctx),

        ("POST", ["containers", "create"]) => containers::create(ctx),
        ("GET", ["containers", "json"]) => containers::list(ctx),
        ("POST", ["containers", "prune"]) => containers::prune(ctx),
        ("GET", ["containers", id, "json"]) => containers::inspect(ctx, id),
        ("GET", ["containers", id, "top"]) => containers::top(ctx, id),
        ("GET", ["containers", id, "changes"]) => containers::changes(ctx, id),
        ("GET", ["containers", id, "export"]) => containers::export(ctx, id),
        ("HEAD", ["containers", id, "archive"]) => containers::archive_stat(ctx, id),
        ("GET", ["containers", id, "archive"]) => containers::archive_get(ctx, id),
        ("PUT", ["containers", id, "archive"]) => containers::archive_put(ctx, id),
        ("POST", ["commit"]) => containers::commit(ctx),
        ("GET", ["containers", id, "logs"]) => streams::logs(ctx, id),
        ("GET", ["containers", id, "stats"]) => streams::stats(ctx, id),
        ("POST", ["containers", id, "wait"]) => streams::wait(ctx, id),
        ("POST", ["containers", id, "attach"]) => containers::attach(ctx, id),
        ("POST", ["containers", id, "exec"]) => exec::create(ctx, id),
        ("POST", ["containers", id, action]) => containers::action(ctx, id, action),
        ("DELETE", ["containers", id]) => containers::remove(ctx, id),
        // `rm --link /web/db`: the docker CLI sends `/containers//web/db?link=1`.
        ("DELETE", ["containers", "", parent, alias])
        | ("DELETE", ["containers", parent, alias]) => {
            let link = format!("/{parent}/{alias}");
            containers::remove_link(ctx, &link)
        }

        ("POST", ["exec", id, "start"]) => exec::start(ctx, id),
        ("POST", ["exec", id, "resize"]) => exec::resize(ctx, id),
        ("GET", ["exec", id, "json"]) => exec::inspect(ctx, id),

        ("GET", ["images", "json"]) => images::list(ctx),
        ("POST", ["images", "create"]) => images::create(ctx),
        ("POST", ["images", "load"]) => images::load(ctx),
        ("POST", ["images", "prune"]) => images::prune(ctx),
        ("GET", ["images", "get"]) => images::save(ctx),
        ("GET", ["images", "search"]) => images::search(ctx),
        (_, ["images", _, ..]) => {
            // Image names hold slashes and colons: match on the suffix.
            let name_and_op = &trimmed["images/".len()..];
            images::by_name(ctx, &method, name_and_op)
        }

        ("GET", ["distribution", _, ..]) => {
            let rest = &trimmed["distribution/".len()..];
            images::distribution(ctx, rest)
        }

        ("POST", ["volumes", "create"]) => volumes::create(ctx),
        ("POST", ["volumes", "prune"]) => volumes::prune(ctx),
        ("GET", ["volumes"]) => volumes::list(ctx),
        ("GET", ["volumes", name]) => volumes::inspect(ctx, name),
        ("DELETE", ["volumes", name]) => volumes::remove(ctx, name),

        ("POST", ["networks", "create"]) => networks::create(ctx),
        ("POST", ["networks", "prune"]) => networks::prune(ctx),
        ("GET", ["networks"] | ["networks", ""]) => networks::list(ctx),
        ("GET", ["networks", id]) => networks::inspect(ctx, id),
        ("DELETE", ["networks", id]) => networks::remove(ctx, id),
        ("POST", ["networks", id, "connect"]) => networks::connect(ctx, id),
        ("POST", ["networks", id, "disconnect"]) => networks::disconnect(ctx, id),

        // Swarm mode: answered as a dockerd that is not in a swarm, in its words
        // (clients clean up with `swarm leave --force` and ignore exactly that answer).
        ("POST", ["swarm", "leave"]) => Err(ApiError::new(503, NOT_IN_SWARM)),
        ("POST", ["swarm", "init" | "join"]) => Err(ApiError::new(
            503,
            "berth has no swarm mode: this node cannot create or join a swarm",
        )),
        (_, ["swarm"] | ["swarm", "unlockkey" | "unlock" | "update"])
        | (_, ["services" | "nodes" | "tasks" | "secrets" | "configs", ..]) => {
            Err(ApiError::new(503, NOT_A_MANAGER))
        }
        _ => Err(ApiError::no_route()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            strip_version("/v1.41/containers/json").unwrap(),
            "/containers/json"
        );
        assert_eq!(strip_version("/v1.24/_ping").unwrap(), "/_ping");
        assert_eq!(
            strip_version("/containers/json").unwrap(),
            "/containers/json"
        );
        assert_eq!(strip_version("/version").unwrap(), "/version");
        let e = strip_version("/v1.47/version").unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(
            e.message,
            "client version 1.47 is too new. Maximum supported API version is 1.41"
        );
        let e = strip_version("/v1.12/version").unwrap_err();
        assert!(
            e.message.starts_with("client version 1.12 is too old"),
            "{}",
            e.message
        );
    }
}
