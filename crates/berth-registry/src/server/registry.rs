//! One request through the registry: authentication, the read-only and delete
//! switches, then the endpoint's handler.

use std::path::Path;

use berth_http::Request;

use super::auth::{Htpasswd, REALM};
use super::error::{Code, RegistryError, ServeError};
use super::http::{Body, Reply};
use super::routes::{self, Route};
use super::store::Store;
use super::uploads::Uploads;
use super::{blobs, lists, manifests, Options};

/// A registry: its storage, its upload sessions, and how it is configured.
pub struct Registry {
    pub(crate) store: Store,
    pub(crate) uploads: Uploads,
    auth: Option<Htpasswd>,
    read_only: bool,
    pub(crate) delete: bool,
}

/// The result of one request.
pub struct Handled {
    pub reply: Reply,
    /// Who made it, when authentication is on and they passed it.
    pub user: Option<String>,
}

pub(crate) type Result<T> = std::result::Result<T, RegistryError>;

impl Registry {
    /// Opens the storage under `options.root` and reads the htpasswd file.
    pub fn open(options: &Options) -> std::result::Result<Registry, ServeError> {
        let store = Store::open(&options.root)?;
        let uploads = Uploads::new(store.uploads_dir());
        let auth = options
            .htpasswd
            .as_deref()
            .map(Htpasswd::load)
            .transpose()?;
        Ok(Registry {
            store,
            uploads,
            auth,
            read_only: options.read_only,
            delete: options.delete,
        })
    }

    /// The storage root's registry, for tests and tools.
    pub fn at(root: &Path) -> std::result::Result<Registry, ServeError> {
        Registry::open(&Options {
            root: root.to_path_buf(),
            ..Options::default()
        })
    }

    /// Handles one request; the body is read only by the handlers that need it.
    pub fn handle(&self, req: &Request, body: &mut Body<'_>) -> Handled {
        let user = match &self.auth {
            None => None,
            Some(auth) => match auth.check(req.header("authorization")) {
                Some(user) => Some(user),
                None => {
                    let challenge = format!("Basic realm=\"{REALM}\"");
                    let reply = Reply::from(RegistryError::new(
                        Code::Unauthorized,
                        "authentication required",
                    ))
                    .header("WWW-Authenticate", challenge);
                    return Handled { reply, user: None };
                }
            },
        };
        let reply = match self.route(req, body) {
            Ok(reply) => reply,
            Err(e) => Reply::from(e),
        };
        Handled { reply, user }
    }

    fn route(&self, req: &Request, body: &mut Body<'_>) -> Result<Reply> {
        let Some(route) = routes::parse(&req.path)? else {
            return Err(RegistryError::new(Code::NameUnknown, "no such endpoint")
                .with_detail(req.path.clone()));
        };
        let method = match req.method.as_str() {
            "HEAD" => "GET",
            m => m,
        };
        let writes = matches!(method, "POST" | "PUT" | "PATCH" | "DELETE");
        if writes && self.read_only {
            return Err(RegistryError::new(
                Code::Unsupported,
                "the registry is read-only",
            ));
        }
        let deletes =
            method == "DELETE" && matches!(route, Route::Blob { .. } | Route::Manifest { .. });
        if deletes && !self.delete {
            return Err(RegistryError::new(
                Code::Unsupported,
                "deletion is disabled (berth registry serve --delete enables it)",
            ));
        }
        let q = &req.query;
        match (route, method) {
            (Route::Base, "GET") => Ok(Reply::json(200, &serde_json::json!({}))),
            (Route::Catalog, "GET") => lists::catalog(self, q),
            (Route::Tags { name }, "GET") => lists::tags(self, &name, q),
            (Route::Manifest { name, reference }, "GET") => manifests::get(self, &name, &reference),
            (Route::Manifest { name, reference }, "PUT") => {
                manifests::put(self, &name, &reference, req, body)
            }
            (Route::Manifest { name, reference }, "DELETE") => {
                manifests::delete(self, &name, &reference)
            }
            (Route::Referrers { name, digest }, "GET") => {
                manifests::referrers(self, &name, &digest, q)
            }
            (Route::Blob { name, digest }, "GET") => blobs::get(self, &name, &digest, req),
            (Route::Blob { name, digest }, "DELETE") => blobs::delete(self, &name, &digest),
            (Route::Uploads { name }, "POST") => blobs::start_upload(self, &name, req, body),
            (Route::Upload { name, uuid }, "GET") => blobs::upload_status(self, &name, &uuid),
            (Route::Upload { name, uuid }, "PATCH") => {
                blobs::patch_upload(self, &name, &uuid, req, body)
            }
            (Route::Upload { name, uuid }, "PUT") => {
                blobs::finish_upload(self, &name, &uuid, req, body)
            }
            (Route::Upload { name, uuid }, "DELETE") => blobs::cancel_upload(self, &name, &uuid),
            _ => Err(RegistryError::new(
                Code::Unsupported,
                format!("{} is not supported on {}", req.method, req.path),
            )),
        }
    }
}
