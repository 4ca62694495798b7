//! Volume routes: create, list, inspect, remove, prune.

use berth_api_types::volume::{VolumeCreateRequest, VolumePruneResponse};

use super::{containers::filters, json, Ctx, HandlerResult, Reply};

/// `POST /volumes/create`: an empty body creates an anonymous volume, as with dockerd.
pub fn create(ctx: &mut Ctx<'_>) -> HandlerResult {
    let req: VolumeCreateRequest = ctx.json_body()?.unwrap_or_default();
    json(201, &ctx.engine.volume_create(req)?)
}

pub fn list(ctx: &mut Ctx<'_>) -> HandlerResult {
    let f = filters(ctx)?;
    json(200, &ctx.engine.volume_list(f)?)
}

pub fn inspect(ctx: &mut Ctx<'_>, name: &str) -> HandlerResult {
    json(200, &ctx.engine.volume_inspect(name)?)
}

pub fn remove(ctx: &mut Ctx<'_>, name: &str) -> HandlerResult {
    let force = ctx.query().bool("force");
    ctx.engine.volume_remove(name, force)?;
    Ok(Reply::Empty(204))
}

pub fn prune(ctx: &mut Ctx<'_>) -> HandlerResult {
    let report = ctx.engine.volumes_prune(filters(ctx)?)?;
    json(
        200,
        &VolumePruneResponse {
            volumes_deleted: report.deleted,
            space_reclaimed: report.space_reclaimed,
        },
    )
}
