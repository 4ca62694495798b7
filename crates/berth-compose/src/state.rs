//! What the daemon holds of a project: its containers, found by label (so that a
//! project started by docker compose is found too), and the progress lines printed as
//! they change.

use std::io::Write;
use std::sync::Mutex;

use berth_api_types::container::ContainerSummary;
use berth_api_types::Filters;
use berth_client::{Client, ClientError, ListContainersOptions};

use crate::labels;

/// One container of the project.
#[derive(Debug, Clone)]
pub struct Existing {
    pub id: String,
    pub name: String,
    pub service: String,
    pub number: u32,
    pub oneoff: bool,
    pub hash: String,
    pub image_id: String,
    /// `running`, `exited`, `created`, `paused`, `restarting`, `dead`.
    pub state: String,
    pub summary: ContainerSummary,
}

impl Existing {
    pub fn running(&self) -> bool {
        matches!(self.state.as_str(), "running" | "restarting" | "paused")
    }
}

/// The project's containers (all states), by service then number. `oneoff`: whether
/// to include `compose run` containers.
pub fn containers(
    client: &Client,
    project: &str,
    oneoff: bool,
) -> Result<Vec<Existing>, ClientError> {
    let list = client.list_containers(&ListContainersOptions {
        all: true,
        filters: project_filter(project),
        ..Default::default()
    })?;
    let mut out: Vec<Existing> = list
        .into_iter()
        .filter_map(|c| {
            let label = |k: &str| c.labels.get(k).cloned().unwrap_or_default();
            // Only what belongs to this project by its label (a daemon that ignores
            // the filter must not make us touch others' containers).
            if label(labels::PROJECT) != project {
                return None;
            }
            let is_oneoff = label(labels::ONEOFF).eq_ignore_ascii_case("true");
            if is_oneoff && !oneoff {
                return None;
            }
            Some(Existing {
                id: c.id.clone(),
                name: c
                    .names
                    .first()
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_default(),
                service: label(labels::SERVICE),
                number: label(labels::NUMBER).parse().unwrap_or(0),
                oneoff: is_oneoff,
                hash: label(labels::CONFIG_HASH),
                image_id: label(labels::IMAGE),
                state: c.state.clone(),
                summary: c,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        (a.service.as_str(), a.oneoff, a.number, a.name.as_str()).cmp(&(
            b.service.as_str(),
            b.oneoff,
            b.number,
            b.name.as_str(),
        ))
    });
    Ok(out)
}

/// `label=com.docker.compose.project=PROJECT`: what belongs to a project.
pub fn project_filter(project: &str) -> Filters {
    let mut f = Filters::new();
    f.add("label", format!("{}={project}", labels::PROJECT));
    f
}

/// Progress lines on stderr, as docker compose prints them when not on a terminal:
/// ` Container shop-web-1  Started`. Shared by the threads that converge services.
pub struct Progress {
    out: Mutex<Box<dyn Write + Send>>,
}

impl Progress {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Progress {
            out: Mutex::new(out),
        }
    }

    /// ` KIND NAME  STATE`.
    pub fn event(&self, kind: &str, name: &str, state: &str) {
        self.line(&format!(" {kind} {name}  {state}"));
    }

    pub fn line(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}
