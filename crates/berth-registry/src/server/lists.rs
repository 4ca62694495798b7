//! Listings: `/v2/_catalog` (every repository) and `/v2/<name>/tags/list`, both
//! paginated with `n` and `last`, with a `Link` to the next page.

use berth_http::Query;
use serde_json::json;

use super::error::{Code, RegistryError};
use super::http::Reply;
use super::paginate::paginate;
use super::registry::{Registry, Result};

fn page_size(q: &Query) -> Result<Option<usize>> {
    q.number::<usize>("n")
        .map_err(|e| RegistryError::new(Code::PaginationNumberInvalid, e.to_string()))
}

/// `GET /v2/_catalog?n=&last=`
pub fn catalog(reg: &Registry, q: &Query) -> Result<Reply> {
    let all = reg.store.repositories()?;
    let page = paginate(&all, page_size(q)?, q.get("last"), "/v2/_catalog");
    let reply = Reply::json(200, &json!({ "repositories": page.items }));
    Ok(match page.link {
        Some(link) => reply.header("Link", link),
        None => reply,
    })
}

/// `GET /v2/<name>/tags/list?n=&last=`
pub fn tags(reg: &Registry, name: &str, q: &Query) -> Result<Reply> {
    if !reg.store.repo_exists(name) {
        return Err(
            RegistryError::new(Code::NameUnknown, "repository name not known to registry")
                .with_detail(name.to_string()),
        );
    }
    let all = reg.store.tags(name)?;
    let path = format!("/v2/{name}/tags/list");
    let page = paginate(&all, page_size(q)?, q.get("last"), &path);
    let reply = Reply::json(200, &json!({ "name": name, "tags": page.items }));
    Ok(match page.link {
        Some(link) => reply.header("Link", link),
        None => reply,
    })
}
