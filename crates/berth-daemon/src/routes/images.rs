//! Image routes: list, inspect, history, tag, remove, prune, pull
//! (`/images/create?fromImage=`, progress streamed as dockerd streams it, credentials
//! from `X-Registry-Auth`), import (`/images/create?fromSrc=-`, the request body
//! streamed to the engine), load, save (`/images/get`, `/images/{name}/get`: the
//! archive streamed to the client), `/distribution/{name}/json`, and
//! `/images/search`.

use std::io::{BufWriter, Write};

use berth_api_types::image::{ErrorDetail, ImagePruneResponse, JsonMessage};
use berth_api_types::registry::{AuthConfig, AUTH_HEADER};
use berth_engine::api::{ImportOptions, PullOptions, PushOptions};

use super::{containers::filters, json, Ctx, HandlerResult, Reply};
use crate::error::ApiError;
use crate::http::{BodyReader, Chunked};

pub fn list(ctx: &mut Ctx<'_>) -> HandlerResult {
    let q = ctx.query();
    let mut f = filters(ctx)?;
    // API < 1.25 sent a bare reference pattern as `filter`.
    if let Some(pattern) = q.non_empty("filter") {
        f.add("reference", pattern);
    }
    json(
        200,
        &ctx.engine.image_list(q.bool("all"), f, q.bool("digests"))?,
    )
}

/// Routes under `/images/{name}`: the name may hold slashes and colons, so the
/// operation is recognised by its suffix.
pub fn by_name(ctx: &mut Ctx<'_>, method: &str, rest: &str) -> HandlerResult {
    let suffixed = |op: &str| {
        rest.strip_suffix(op)
            .and_then(|n| n.strip_suffix('/'))
            .filter(|n| !n.is_empty())
    };
    match method {
        "GET" => {
            if let Some(name) = suffixed("json") {
                return json(200, &ctx.engine.image_inspect(name)?);
            }
            if let Some(name) = suffixed("history") {
                return json(200, &ctx.engine.image_history(name)?);
            }
            if let Some(name) = suffixed("get") {
                return send_archive(ctx, &[name.to_string()]);
            }
            Err(ApiError::no_route())
        }
        "POST" => {
            if let Some(name) = suffixed("push") {
                let opts = PushOptions {
                    name: name.to_string(),
                    tag: ctx.query().non_empty("tag").unwrap_or("").to_string(),
                    auth: credentials(ctx),
                };
                return push(ctx, opts);
            }
            let Some(name) = suffixed("tag") else {
                return Err(ApiError::no_route());
            };
            let q = ctx.query();
            let repo = q
                .non_empty("repo")
                .ok_or_else(|| ApiError::bad("missing query parameter: repo"))?
                .to_string();
            let tag = q.non_empty("tag").map(str::to_string);
            ctx.engine.image_tag(name, &repo, tag.as_deref())?;
            Ok(Reply::Empty(201))
        }
        "DELETE" if !rest.is_empty() => {
            let q = ctx.query();
            let (force, noprune) = (q.bool("force"), q.bool("noprune"));
            json(200, &ctx.engine.image_remove(rest, force, noprune)?)
        }
        _ => Err(ApiError::no_route()),
    }
}

/// Writes a JSON message stream: one message per chunk, newline-terminated.
fn message_stream(ctx: &mut Ctx<'_>, messages: &[JsonMessage]) -> HandlerResult {
    let Ok(mut out) = crate::http::chunked(&mut ctx.conn.sock, 200, "application/json", &[]) else {
        return Ok(Reply::Close);
    };
    for m in messages {
        let mut line = serde_json::to_vec(m).unwrap_or_default();
        line.push(b'\n');
        if out.send(&line).is_err() {
            return Ok(Reply::Close);
        }
    }
    Ok(if out.finish().is_ok() {
        Reply::Written
    } else {
        Reply::Close
    })
}

pub fn create(ctx: &mut Ctx<'_>) -> HandlerResult {
    let q = ctx.query();
    if let Some(image) = q.non_empty("fromImage") {
        let opts = PullOptions {
            image: image.to_string(),
            tag: q.non_empty("tag").unwrap_or("").to_string(),
            platform: q.non_empty("platform").map(str::to_string),
            auth: credentials(ctx),
        };
        return pull(ctx, opts);
    }
    match q.non_empty("fromSrc") {
        Some("-") => {}
        Some(src) => {
            return Err(ApiError::bad(format!(
                "fromSrc {src:?}: importing from a URL is not supported; send the archive as the request body (fromSrc=-)"
            )))
        }
        None => return Err(ApiError::bad("fromImage or fromSrc is required")),
    }
    let opts = ImportOptions {
        repo: q.non_empty("repo").map(str::to_string),
        tag: q.non_empty("tag").map(str::to_string),
        changes: q
            .all("changes")
            .into_iter()
            .filter(|c| !c.is_empty())
            .collect(),
        message: q.non_empty("message").map(str::to_string),
        platform: q.non_empty("platform").map(str::to_string),
    };
    let id = ctx.engine.image_import(&mut BodyReader(ctx.conn), opts)?;
    message_stream(ctx, &[JsonMessage::status(id)])
}

fn credentials(ctx: &Ctx<'_>) -> AuthConfig {
    AuthConfig::from_header(ctx.req.header(AUTH_HEADER).unwrap_or(""))
}

/// A pull's response: it starts with the first progress message, so a failure before
/// any (an unknown image, denied access) is a plain error response, which `docker
/// run` reads; a later one ends the stream with an `errorDetail` message.
struct PullStream<'a> {
    sock: Option<&'a mut crate::http::Socket>,
    stream: Option<Chunked<'a>>,
    gone: bool,
}

impl PullStream<'_> {
    fn send(&mut self, m: &JsonMessage) -> bool {
        if self.gone {
            return false;
        }
        if self.stream.is_none() {
            let Some(sock) = self.sock.take() else {
                return false;
            };
            match crate::http::chunked(sock, 200, "application/json", &[]) {
                Ok(c) => self.stream = Some(c),
                Err(_) => {
                    self.gone = true;
                    return false;
                }
            }
        }
        let mut line = serde_json::to_vec(m).unwrap_or_default();
        line.push(b'\n');
        let ok = self.stream.as_mut().is_some_and(|s| s.send(&line).is_ok());
        self.gone = !ok;
        ok
    }
}

/// `POST /images/create?fromImage=…`.
fn pull(ctx: &mut Ctx<'_>, opts: PullOptions) -> HandlerResult {
    let engine = ctx.engine;
    progress_stream(ctx, |out| engine.image_pull(opts, out))
}

/// `POST /images/{name}/push?tag=…`: streamed as a pull is.
fn push(ctx: &mut Ctx<'_>, opts: PushOptions) -> HandlerResult {
    let engine = ctx.engine;
    progress_stream(ctx, |out| engine.image_push(opts, out))
}

/// Runs a pull or push, streaming its progress (see [`PullStream`]).
pub(super) fn progress_stream(
    ctx: &mut Ctx<'_>,
    run: impl FnOnce(&mut dyn FnMut(JsonMessage) -> bool) -> berth_engine::api::EngineResult<()>,
) -> HandlerResult {
    let mut out = PullStream {
        sock: Some(&mut ctx.conn.sock),
        stream: None,
        gone: false,
    };
    let result = run(&mut |m| out.send(&m));
    if let (Err(e), Some(_)) = (&result, &out.stream) {
        out.send(&JsonMessage::error(e.to_string()));
    }
    if out.gone {
        return Ok(Reply::Close);
    }
    match (result, out.stream) {
        (Err(e), None) => Err(e.into()),
        (_, Some(s)) => Ok(if s.finish().is_ok() {
            Reply::Written
        } else {
            Reply::Close
        }),
        (Ok(()), None) => message_stream(ctx, &[]),
    }
}

/// `GET /images/search?term=&limit=&filters=`.
pub fn search(ctx: &mut Ctx<'_>) -> HandlerResult {
    let q = ctx.query();
    let term = q.get("term").unwrap_or("").to_string();
    let limit = match q.non_empty("limit") {
        None => 0,
        Some(l) => l
            .parse::<u32>()
            .map_err(|_| ApiError::bad(format!("invalid limit {l:?}: not a number")))?,
    };
    let f = filters(ctx)?;
    json(200, &ctx.engine.image_search(&term, limit, f)?)
}

/// `GET /distribution/{name}/json`.
pub fn distribution(ctx: &mut Ctx<'_>, rest: &str) -> HandlerResult {
    let Some(name) = rest.strip_suffix("/json").filter(|n| !n.is_empty()) else {
        return Err(ApiError::no_route());
    };
    let auth = credentials(ctx);
    json(200, &ctx.engine.distribution_inspect(name, auth)?)
}

/// `POST /images/load`. As dockerd: 200, and a failed load is told inside the stream
/// (`errorDetail`), which is what the SDKs turn into their load error.
pub fn load(ctx: &mut Ctx<'_>) -> HandlerResult {
    match ctx.engine.image_load(&mut BodyReader(ctx.conn)) {
        Ok(lines) => {
            let messages: Vec<JsonMessage> = lines
                .into_iter()
                .map(|l| JsonMessage {
                    stream: format!("{l}\n"),
                    ..JsonMessage::default()
                })
                .collect();
            message_stream(ctx, &messages)
        }
        Err(e) => {
            let message = e.to_string();
            let failed = JsonMessage {
                error_detail: Some(ErrorDetail {
                    message: message.clone(),
                    ..ErrorDetail::default()
                }),
                error: message,
                ..JsonMessage::default()
            };
            // The client may still be sending the rest of the archive: read it, so it
            // gets the answer rather than a reset connection.
            if std::io::copy(&mut BodyReader(ctx.conn), &mut std::io::sink()).is_err() {
                return Ok(Reply::Close);
            }
            message_stream(ctx, &[failed])
        }
    }
}

pub fn prune(ctx: &mut Ctx<'_>) -> HandlerResult {
    let report = ctx.engine.images_prune(filters(ctx)?)?;
    json(
        200,
        &ImagePruneResponse {
            images_deleted: report.deleted,
            space_reclaimed: report.space_reclaimed,
        },
    )
}

/// `GET /images/get?names=a&names=b`.
pub fn save(ctx: &mut Ctx<'_>) -> HandlerResult {
    let names: Vec<String> = ctx
        .query()
        .all("names")
        .into_iter()
        .filter(|n| !n.is_empty())
        .collect();
    send_archive(ctx, &names)
}

/// Chunks of the archive as they go out: big enough that framing costs nothing.
const ARCHIVE_CHUNK: usize = 256 << 10;

/// Streams a `docker save` archive. The engine resolves every name first, so an
/// unknown one is an ordinary error response; a failure once the archive has started
/// ends the connection without the last chunk, which clients see as a truncated body.
fn send_archive(ctx: &mut Ctx<'_>, names: &[String]) -> HandlerResult {
    let export = ctx.engine.image_save(names)?;
    let Ok(out) = crate::http::chunked(&mut ctx.conn.sock, 200, "application/x-tar", &[]) else {
        return Ok(Reply::Close);
    };
    let mut w = BufWriter::with_capacity(ARCHIVE_CHUNK, out);
    let written = export(&mut w).and_then(|()| {
        w.flush()
            .map_err(|e| berth_engine::EngineError::internal("writing the image archive", e))
    });
    // What is still buffered after a failure is dropped, not sent.
    let (out, _) = w.into_parts();
    match written {
        Ok(()) => Ok(if out.finish().is_ok() {
            Reply::Written
        } else {
            Reply::Close
        }),
        Err(e) => {
            if out.socket().peer_closed() {
                crate::debug!("image archive of {names:?}: the client went away: {e}");
            } else {
                crate::error!("image archive of {names:?} ended early: {e}");
            }
            Ok(Reply::Close)
        }
    }
}
