//! `/auth`: whether credentials are good for a registry, checked as dockerd's login
//! checks them — mirrors left out (credentials for Docker Hub are never sent to a
//! mirror), HTTPS before HTTP for an insecure registry, the next endpoint tried only
//! while no registry answered the `/v2/` ping.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::error::{LoginError, PullError};
use super::hosts::{endpoints, login_domain};
use super::{Credentials, RegistryClient};

/// What dockerd answers a good login with.
pub const LOGIN_SUCCEEDED: &str = "Login Succeeded";

/// A login that succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginOk {
    /// `Login Succeeded`.
    pub status: String,
    /// A refresh token the registry's token server gave for these credentials, to
    /// store in their place (empty when it gave none).
    pub identity_token: String,
}

impl RegistryClient {
    /// Checks `creds` against the registry `server_address` names (empty: Docker Hub).
    pub fn login(&self, server_address: &str, creds: &Credentials) -> Result<LoginOk, LoginError> {
        let domain = login_domain(server_address).map_err(LoginError::BadAddress)?;
        let eps = endpoints(&domain, &self.transport.insecure, &[]);
        let cancel = Arc::new(AtomicBool::new(false));
        let mut last = None;
        for (i, ep) in eps.iter().enumerate() {
            let final_ep = i + 1 == eps.len();
            // No retries: a login answers at once, as dockerd's does.
            let session = match self
                .transport
                .session(ep, "", "", creds, false, cancel.clone())
            {
                Ok(s) => s,
                Err(e) if !final_ep => {
                    last = Some(e);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let identity_token = session.check_login()?;
            return Ok(LoginOk {
                status: LOGIN_SUCCEEDED.into(),
                identity_token,
            });
        }
        Err(last
            .unwrap_or_else(|| PullError::Invalid(format!("no endpoint for registry {domain}")))
            .into())
    }
}
