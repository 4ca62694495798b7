//! Exec instances: create, start (detached, or hijacked for its stdio), resize,
//! inspect.

use berth_api_types::exec::{ExecConfig, ExecStartConfig};

use super::{json, Ctx, HandlerResult, Reply};
use crate::error::ApiError;

pub fn create(ctx: &mut Ctx<'_>, container: &str) -> HandlerResult {
    let config: ExecConfig = ctx
        .json_body()?
        .ok_or_else(|| ApiError::bad("exec config cannot be empty"))?;
    json(201, &ctx.engine.exec_create(container, config)?)
}

pub fn start(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    // The stream is framed as the start request's Tty says (dockerd's rule); without a
    // body, as the exec was created.
    let config: ExecStartConfig = match ctx.json_body()? {
        Some(c) => c,
        None => ExecStartConfig {
            tty: ctx.engine.exec_inspect(id)?.process_config.tty,
            ..Default::default()
        },
    };
    if config.detach {
        ctx.engine.exec_start(id, config)?;
        return Ok(Reply::Empty(200));
    }
    // As dockerd: the connection is hijacked before the process starts, so the
    // response head reaches the client before any output does (clients such as the
    // Python SDK read the stream past their HTTP parser's buffer). A failure to start
    // is then told inside the stream, and exec inspect gives its exit code.
    let tty = config.tty;
    if !crate::hijack::send_head(ctx.conn, ctx.req) {
        return Ok(Reply::Close);
    }
    match ctx.engine.exec_start(id, config) {
        Ok(Some(stream)) => crate::hijack::pump(ctx.conn, stream),
        Ok(None) => {}
        Err(e) => {
            use std::io::Write;
            let msg = format!("{e}\r\n");
            let mut out = Vec::with_capacity(msg.len() + 8);
            if !tty {
                out.extend_from_slice(&[1, 0, 0, 0]);
                out.extend_from_slice(&(msg.len() as u32).to_be_bytes());
            }
            out.extend_from_slice(msg.as_bytes());
            let _ = ctx.conn.sock.write_all(&out);
        }
    }
    Ok(Reply::Close)
}

pub fn resize(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    let (h, w) = super::containers::size(ctx)?;
    ctx.engine.exec_resize(id, h, w)?;
    Ok(Reply::Empty(200))
}

pub fn inspect(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    json(200, &ctx.engine.exec_inspect(id)?)
}
