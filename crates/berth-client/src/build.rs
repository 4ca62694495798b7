//! `POST /build` (the classic builder's API: a context tar up, a stream of JSON
//! messages down) and `POST /build/prune`.

use std::io::Read;

use berth_api_types::build::{BuildCachePruneReport, BuildOptions};
use berth_api_types::image::JsonMessage;
use berth_api_types::Filters;

use crate::http::Body;
use crate::stream::JsonStream;
use crate::{Client, ClientError, Query};

/// The header carrying the credentials of every configured registry, for the FROM
/// images a build pulls: base64url of `{"registry": AuthConfig, …}`.
pub const REGISTRY_CONFIG_HEADER: &str = "X-Registry-Config";

/// [`REGISTRY_CONFIG_HEADER`]'s value when no registry has credentials (`{}`).
pub const NO_REGISTRY_CONFIG: &str = "e30=";

impl Client {
    /// `POST /build`: sends `context` (a tar, plain or compressed, streamed chunked;
    /// not read at all when `opts.remote` names a URL for the daemon to fetch) and
    /// hands every message of the answer to `on_message` as it arrives, `aux`
    /// messages included. A message with an `errorDetail` (or an `error`) ends the
    /// build: it is not handed over but returned as [`ClientError::Stream`], with the
    /// failed RUN's exit code when the daemon gave one.
    ///
    /// Returns the image id: the `aux` message's `ID`, else the id of the last
    /// `Successfully built <id>` line, else None.
    pub fn build(
        &self,
        opts: &BuildOptions,
        mut context: impl Read + Send,
        registry_config: &str,
        mut on_message: impl FnMut(&JsonMessage),
    ) -> Result<Option<String>, ClientError> {
        let v = self.api_version()?;
        let path = format!("/v{v}/build?{}", opts.to_query());
        let headers = [(REGISTRY_CONFIG_HEADER, registry_config.to_string())];
        let body = if opts.remote.is_some() {
            Body::Empty
        } else {
            Body::Stream {
                reader: &mut context,
                content_type: "application/x-tar",
            }
        };
        let resp = self.send_raw("POST", &path, &headers, body, false)?;
        if resp.status() >= 400 {
            return Err(crate::api_error(resp));
        }
        let mut aux_id = None;
        let mut built_id = None;
        for msg in JsonStream::<JsonMessage>::new(resp.body, "the build's output".into()) {
            let msg = msg?;
            if let Some(e) = stream_failure(&msg) {
                return Err(e);
            }
            if let Some(id) = msg
                .aux
                .as_ref()
                .and_then(|a| a.get("ID"))
                .and_then(|id| id.as_str())
                .filter(|id| !id.is_empty())
            {
                aux_id = Some(id.to_string());
            }
            if let Some(id) = msg
                .stream
                .trim_end()
                .strip_prefix("Successfully built ")
                .filter(|id| !id.is_empty())
            {
                built_id = Some(id.to_string());
            }
            on_message(&msg);
        }
        Ok(aux_id.or(built_id))
    }

    /// `POST /build/prune`: removes build cache (`all`: not only the dangling
    /// entries) down to `keep_storage` bytes (0: no floor).
    pub fn build_prune(
        &self,
        all: bool,
        filters: &Filters,
        keep_storage: i64,
    ) -> Result<BuildCachePruneReport, ClientError> {
        let mut q = Query::new();
        q.flag("all", all);
        if keep_storage != 0 {
            q.push("keep-storage", keep_storage);
        }
        if !filters.is_empty() {
            q.push("filters", filters.to_json());
        }
        // dockerd answers `"CachesDeleted": null` when nothing went.
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(rename = "CachesDeleted", default)]
            caches_deleted: Option<Vec<String>>,
            #[serde(rename = "SpaceReclaimed", default)]
            space_reclaimed: u64,
        }
        let a: Answer = self
            .request("POST", "/build/prune", &q, Body::Empty)?
            .json()?;
        Ok(BuildCachePruneReport {
            caches_deleted: a.caches_deleted.unwrap_or_default(),
            space_reclaimed: a.space_reclaimed,
        })
    }
}

/// The failure a stream message reports, if it reports one.
fn stream_failure(m: &JsonMessage) -> Option<ClientError> {
    match &m.error_detail {
        Some(e) if !e.message.is_empty() || e.code != 0 => Some(ClientError::Stream {
            message: if e.message.is_empty() {
                m.error.clone()
            } else {
                e.message.clone()
            },
            code: e.code,
        }),
        _ if !m.error.is_empty() => Some(ClientError::Stream {
            message: m.error.clone(),
            code: 0,
        }),
        _ => None,
    }
}
