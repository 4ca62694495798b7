//! `config`: the project the flags name, resolved and printed. It reads files only:
//! like docker compose's, it never contacts a daemon (so never starts one either).

use std::io::Write;

use super::read_project;
use crate::cli::{ComposeCli, ConfigArgs};
use crate::labels;
use crate::up::ComposeError;

pub fn config(cli: &ComposeCli, a: &ConfigArgs, out: &mut dyn Write) -> Result<i32, ComposeError> {
    let project = read_project(cli)?;
    if a.quiet {
        return Ok(0);
    }
    let lines = |items: Vec<String>| -> String { items.iter().map(|i| format!("{i}\n")).collect() };
    let text = if a.services {
        lines(project.services.keys().cloned().collect())
    } else if a.volumes {
        lines(project.volumes.keys().cloned().collect())
    } else if a.images {
        lines(
            project
                .services
                .values()
                .map(|s| labels::image_name(&project.name, s))
                .collect(),
        )
    } else if a.format == "json" {
        let mut t = serde_json::to_string_pretty(&project)
            .map_err(|e| ComposeError::msg(format!("rendering the project: {e}")))?;
        t.push('\n');
        t
    } else {
        serde_saphyr::to_string(&project)
            .map_err(|e| ComposeError::msg(format!("rendering the project: {e}")))?
    };
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| ComposeError::msg(format!("writing to standard output: {e}")))?;
    Ok(0)
}
