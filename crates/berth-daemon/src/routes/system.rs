//! `/_ping`, `/version`, `/info`, `/system/df`, `/auth`.

use berth_api_types::registry::AuthConfig;

use super::{json, Ctx, HandlerResult, Reply};
use crate::error::ApiError;
use crate::http;

/// `GET|HEAD /_ping`: `OK`, uncached; the docker CLI reads `Api-Version` from it to
/// negotiate down to 1.41.
pub fn ping(ctx: &mut Ctx<'_>) -> HandlerResult {
    let head_only = ctx.req.method == "HEAD";
    let body: &[u8] = if head_only { b"" } else { b"OK" };
    http::send(
        &mut ctx.conn.sock,
        200,
        Some("text/plain; charset=utf-8"),
        body,
        &[
            ("Cache-Control", "no-cache, no-store, must-revalidate"),
            ("Pragma", "no-cache"),
            ("Swarm", "inactive"),
            // The classic builder's API: the docker CLI then builds with it by itself.
            ("Builder-Version", "1"),
        ],
        head_only,
    )
    .map(|()| Reply::Written)
    .or(Ok(Reply::Close))
}

pub fn version(ctx: &mut Ctx<'_>) -> HandlerResult {
    json(200, &ctx.engine.version())
}

pub fn info(ctx: &mut Ctx<'_>) -> HandlerResult {
    json(200, &ctx.engine.info()?)
}

pub fn df(ctx: &mut Ctx<'_>) -> HandlerResult {
    json(200, &ctx.engine.system_df()?)
}

/// `POST /auth`: the body is the credentials to check (an AuthConfig); good ones are
/// `200 {"Status":"Login Succeeded","IdentityToken":…}`, refused ones a 401.
pub fn auth(ctx: &mut Ctx<'_>) -> HandlerResult {
    let config: AuthConfig = ctx.json_body()?.ok_or_else(|| {
        ApiError::bad(
            "missing the credentials to check: the body must be an AuthConfig JSON object",
        )
    })?;
    json(200, &ctx.engine.registry_login(config)?)
}
