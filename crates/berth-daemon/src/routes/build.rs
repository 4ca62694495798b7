//! `POST /build` (the context is the request body, credentials come in
//! `X-Registry-Config`; the classic builder's stream answers) and `POST /build/prune`.

use berth_api_types::build::BuildOptions;
use berth_api_types::registry::AuthConfig;

use super::{json, Ctx, HandlerResult};
use crate::error::ApiError;
use crate::http::BodyReader;

/// The header a build's registry credentials come in.
const CONFIG_HEADER: &str = "X-Registry-Config";

pub fn build(ctx: &mut Ctx<'_>) -> HandlerResult {
    let q = ctx.query();
    let opts = BuildOptions::from_query(|k| q.all(k)).map_err(|e| ApiError::bad(e.to_string()))?;
    let auth = AuthConfig::configs_from_header(ctx.req.header(CONFIG_HEADER).unwrap_or(""));
    let engine = ctx.engine;
    // The whole context is received before anything is answered.
    let run = engine.build(opts, auth, &mut BodyReader(ctx.conn))?;
    super::images::progress_stream(ctx, run)
}

/// `POST /build/prune?all=`.
pub fn prune(ctx: &mut Ctx<'_>) -> HandlerResult {
    let all = ctx.query().bool("all");
    json(200, &ctx.engine.build_prune(all)?)
}
