//! The DNS resolver of the metadata-document client: it resolves the host and hands the
//! connector only addresses that passed [`is_public`], so the connection goes to exactly the
//! addresses that were checked. Checking a name and letting the HTTP client resolve it again
//! would leave a window for DNS rebinding (a first answer public, the second one internal).
//!
//! A name with any refused address is refused as a whole: a host that also points inside the
//! network is not one to talk to. With `allow_private` (development, tests) every address
//! passes. IP-literal hosts never reach a resolver; the caller checks them.

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
};

use hyper_util::client::legacy::connect::dns::Name;

use super::address::is_public;

/// Why a host name gave no address to connect to.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ResolveError {
    /// The lookup failed or found nothing.
    #[error("{host} could not be resolved: {reason}")]
    Lookup {
        /// The host name.
        host: String,
        /// The resolver's message.
        reason: String,
    },
    /// The host resolves to an address that may not be fetched from.
    #[error("{host} resolves to {address}, which is not a public address")]
    Refused {
        /// The host name.
        host: String,
        /// The refused address.
        address: String,
    },
}

/// The addresses of `host` (port 0: the connector sets the URL's), all checked.
pub async fn resolve_checked(
    host: &str,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, ResolveError> {
    let lookup = |reason: String| ResolveError::Lookup {
        host: host.to_owned(),
        reason,
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|e| lookup(e.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(lookup("no address".into()));
    }
    if let Some(refused) = addrs.iter().find(|a| !allow_private && !is_public(a.ip())) {
        return Err(ResolveError::Refused {
            host: host.to_owned(),
            address: refused.ip().to_string(),
        });
    }
    Ok(addrs)
}

/// [`resolve_checked`] as the resolver service of hyper-util's `HttpConnector`.
#[derive(Debug, Clone, Copy)]
pub struct CheckedResolver {
    /// Let loopback, private and other internal addresses through.
    pub allow_private: bool,
}

impl tower::Service<Name> for CheckedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = ResolveError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ResolveError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ResolveError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            resolve_checked(name.as_str(), allow_private)
                .await
                .map(Vec::into_iter)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_names_are_refused_unless_allowed() {
        let refused = resolve_checked("localhost", false).await;
        assert!(
            matches!(refused, Err(ResolveError::Refused { .. })),
            "{refused:?}"
        );
        let allowed = resolve_checked("localhost", true).await.expect("allowed");
        assert!(allowed.iter().all(|a| a.ip().is_loopback()));
        let missing = resolve_checked("does-not-exist.invalid", true).await;
        assert!(
            matches!(missing, Err(ResolveError::Lookup { .. })),
            "{missing:?}"
        );
    }
}
