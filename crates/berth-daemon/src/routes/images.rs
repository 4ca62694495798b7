//! Image routes: list, inspect, history, tag, remove, import (`/images/create?fromSrc=-`,
//! the request body streamed to the engine) and load; pull answers a clear 404 until
//! berth has a registry client.

use berth_api_types::image::JsonMessage;
use berth_engine::api::ImportOptions;

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
    let Ok(mut out) = Chunked::start(&mut ctx.conn.sock, 200, "application/json", &[]) else {
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

pub fn load(ctx: &mut Ctx<'_>) -> HandlerResult {
    let lines = ctx.engine.image_load(&mut BodyReader(ctx.conn))?;
    let messages: Vec<JsonMessage> = lines
        .into_iter()
        .map(|l| JsonMessage {
            stream: format!("{l}\n"),
            ..JsonMessage::default()
        })
        .collect();
    message_stream(ctx, &messages)
}
