//! Pagination of tag and repository lists: `n` (how many) and `last` (the last entry
//! of the previous page), in lexical order, with an RFC 5988 `Link` to the next page.

/// One page of a sorted list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<String>,
    /// The `Link` header value when entries remain after this page.
    pub link: Option<String>,
}

/// The page of `sorted` after `last` holding at most `n` entries; `path` is the
/// endpoint the `Link` points back to (`/v2/_catalog`, `/v2/NAME/tags/list`).
pub fn paginate(sorted: &[String], n: Option<usize>, last: Option<&str>, path: &str) -> Page {
    let from = match last {
        Some(l) => sorted.partition_point(|s| s.as_str() <= l),
        None => 0,
    };
    let rest = &sorted[from.min(sorted.len())..];
    let take = n.unwrap_or(rest.len()).min(rest.len());
    let items = rest[..take].to_vec();
    let link = match (n, items.last()) {
        (Some(n), Some(last)) if take < rest.len() => Some(format!(
            "<{path}?last={}&n={n}>; rel=\"next\"",
            berth_http::percent_encode(last)
        )),
        _ => None,
    };
    Page { items, link }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pages_and_links() {
        let all = list(&["a", "b/c", "d", "e"]);
        let p = paginate(&all, None, None, "/v2/_catalog");
        assert_eq!(p.items, all);
        assert_eq!(p.link, None);

        let p = paginate(&all, Some(2), None, "/v2/_catalog");
        assert_eq!(p.items, list(&["a", "b/c"]));
        assert_eq!(
            p.link.as_deref(),
            Some("</v2/_catalog?last=b%2Fc&n=2>; rel=\"next\"")
        );
        let p = paginate(&all, Some(2), Some("b/c"), "/v2/_catalog");
        assert_eq!(p.items, list(&["d", "e"]));
        assert_eq!(p.link, None, "nothing after the last page");
        // `last` need not be an entry.
        let p = paginate(&all, Some(10), Some("c"), "/v2/x/tags/list");
        assert_eq!(p.items, list(&["d", "e"]));
        let p = paginate(&all, Some(0), None, "/v2/_catalog");
        assert!(p.items.is_empty());
        assert_eq!(p.link, None);
        let p = paginate(&all, None, Some("z"), "/v2/_catalog");
        assert!(p.items.is_empty());
    }
}
