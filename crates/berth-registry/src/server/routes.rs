//! Request paths → endpoints. Repository names hold slashes (`a/b/c`), so a path is
//! read from its end: `…/blobs/uploads/<uuid>`, `…/blobs/<digest>`,
//! `…/manifests/<reference>`, `…/tags/list`, `…/referrers/<digest>`; what comes before
//! is the name, checked against the spec's grammar.

use super::error::{Code, RegistryError};
use super::names::valid_name;

/// An endpoint of the distribution API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`
    Base,
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/tags/list`
    Tags { name: String },
    /// `/v2/<name>/manifests/<reference>`
    Manifest { name: String, reference: String },
    /// `/v2/<name>/blobs/<digest>`
    Blob { name: String, digest: String },
    /// `/v2/<name>/blobs/uploads/`
    Uploads { name: String },
    /// `/v2/<name>/blobs/uploads/<uuid>`
    Upload { name: String, uuid: String },
    /// `/v2/<name>/referrers/<digest>`
    Referrers { name: String, digest: String },
}

/// The endpoint a path names; None for a path outside the API (404); an error for a
/// path whose repository name is invalid.
pub fn parse(path: &str) -> Result<Option<Route>, RegistryError> {
    if path == "/v2" || path == "/v2/" {
        return Ok(Some(Route::Base));
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Ok(None);
    };
    if rest == "_catalog" {
        return Ok(Some(Route::Catalog));
    }
    let seg: Vec<&str> = rest.split('/').collect();
    let n = seg.len();
    let name_of = |k: usize| -> Result<String, RegistryError> {
        let name = seg[..k].join("/");
        if !valid_name(&name) {
            return Err(
                RegistryError::new(Code::NameInvalid, "invalid repository name").with_detail(name),
            );
        }
        Ok(name)
    };
    let at = |i: usize| seg.get(i).copied().unwrap_or("");
    let route = if n >= 4 && at(n - 3) == "blobs" && at(n - 2) == "uploads" {
        let name = name_of(n - 3)?;
        match at(n - 1) {
            "" => Route::Uploads { name },
            uuid => Route::Upload {
                name,
                uuid: uuid.to_string(),
            },
        }
    } else if n >= 3 && at(n - 2) == "blobs" && at(n - 1) == "uploads" {
        Route::Uploads {
            name: name_of(n - 2)?,
        }
    } else if n >= 3 && at(n - 2) == "blobs" {
        Route::Blob {
            name: name_of(n - 2)?,
            digest: at(n - 1).to_string(),
        }
    } else if n >= 3 && at(n - 2) == "manifests" {
        Route::Manifest {
            name: name_of(n - 2)?,
            reference: at(n - 1).to_string(),
        }
    } else if n >= 3 && at(n - 2) == "tags" && at(n - 1) == "list" {
        Route::Tags {
            name: name_of(n - 2)?,
        }
    } else if n >= 3 && at(n - 2) == "referrers" {
        Route::Referrers {
            name: name_of(n - 2)?,
            digest: at(n - 1).to_string(),
        }
    } else {
        return Ok(None);
    };
    Ok(Some(route))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> String {
        x.to_string()
    }

    #[test]
    fn paths_to_endpoints() {
        let d = "sha256:abc";
        let cases = [
            ("/v2/", Route::Base),
            ("/v2", Route::Base),
            ("/v2/_catalog", Route::Catalog),
            ("/v2/a/b/c/tags/list", Route::Tags { name: s("a/b/c") }),
            (
                "/v2/busybox/manifests/latest",
                Route::Manifest {
                    name: s("busybox"),
                    reference: s("latest"),
                },
            ),
            (
                "/v2/x/blobs/sha256:abc",
                Route::Blob {
                    name: s("x"),
                    digest: s(d),
                },
            ),
            ("/v2/x/y/blobs/uploads/", Route::Uploads { name: s("x/y") }),
            ("/v2/x/blobs/uploads", Route::Uploads { name: s("x") }),
            (
                "/v2/x/blobs/uploads/1234",
                Route::Upload {
                    name: s("x"),
                    uuid: s("1234"),
                },
            ),
            (
                "/v2/x/referrers/sha256:abc",
                Route::Referrers {
                    name: s("x"),
                    digest: s(d),
                },
            ),
            // A name may hold the words the endpoints use.
            (
                "/v2/blobs/manifests/tags/list",
                Route::Tags {
                    name: s("blobs/manifests"),
                },
            ),
        ];
        for (path, want) in cases {
            assert_eq!(parse(path).expect(path), Some(want), "{path}");
        }
        for path in [
            "/",
            "/v1/x",
            "/v2/x",
            "/v2/blobs/sha256:abc",
            "/v2/x/tags/all",
        ] {
            assert_eq!(parse(path).expect(path), None, "{path}");
        }
        let e = parse("/v2/Upper/manifests/latest").unwrap_err();
        assert_eq!((e.code, e.status), (Code::NameInvalid, 400));
    }
}
