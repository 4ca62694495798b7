//! Image routes: list, inspect, history, tag, remove, prune, import
//! (`/images/create?fromSrc=-`, the request body streamed to the engine), load, and
//! save (`/images/get`, `/images/{name}/get`: the archive streamed to the client);
//! pull answers a clear 404 until berth has a registry client.

use std::io::{BufWriter, Write};

use berth_api_types::image::{ErrorDetail, ImagePruneResponse, JsonMessage};
use berth_engine::api::ImportOptions;

use super::{containers::filters, json, Ctx, HandlerResult, Reply};
use crate::error::ApiError;
use crate::http::BodyReader;

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
        let name = match q.non_empty("tag") {
            Some(tag) if tag.contains(':') => format!("{image}@{tag}"),
            Some(tag) => format!("{image}:{tag}"),
            None => image.to_string(),
        };
        // Refused before any stream starts, so `docker run` of a missing image fails
        // with this message rather than a broken progress stream.
        return Err(ApiError::new(
            404,
            format!(
                "pull access is not available yet: berth has no registry client (image {name})"
            ),
        ));
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
