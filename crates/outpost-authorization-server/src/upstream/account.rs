//! The provider's user as a user of this server.
//!
//! **Subject.** A user is keyed by (provider issuer, `sub`): their subject here is the v5 UUID
//! (RFC 9562 §5.5, SHA-1 name-based) of the issuer and `sub`, in a namespace of Outpost's own.
//! The same person signing in again, on any instance, gets the same subject, with no lookup
//! table to keep consistent and no race between two first sign-ins; another provider's user
//! with the same `sub` gets another.
//!
//! **Record.** On first sign-in the user gets a store record (codes, grants and consents refer
//! to stored users), with the hash of a random password nobody is told and no allowed scopes:
//! the per-user scope policy then applies as to every user (`outpost users set-scopes NAME …`
//! widens it). The username — the tokens' `username` claim, `whoami`, and the name an operator
//! gives `outpost users set-scopes` — is the email the provider verified (`email_verified`
//! true), else the `sub`, with characters a username cannot hold replaced by `_`, leading `-`
//! dropped and `user` when no letter or digit is left (the rules of a name `outpost users add`
//! takes); when another user already has that name, the subject's first eight hex digits are
//! appended. Never `preferred_username`, nor an unverified email: any user can set those to
//! anything (OpenID Connect Core §5.7: not unique, not to be relied on), and the first to sign
//! in with a name keeps it — someone else's name would take the scopes an operator grants to
//! it.
//!
//! **Allowed domains.** With `--upstream-allowed-domains`, only a user whose email the
//! provider verified (`email_verified` true) and whose domain is in the list signs in. The
//! email must be a plain address — one `@`, no whitespace or control characters — so that
//! what follows the `@` is its domain.

use outpost_oauth::scope::Scope;
use outpost_store::{UserId, Username};
use uuid::Uuid;

use super::{UpstreamError, id_token::UpstreamUser};
use crate::{
    AuthorizationServer,
    users::{self, DirectoryError, DirectoryUser, UserDirectory as _},
};

/// The namespace of upstream subjects (a v4 UUID chosen once; never change it: every upstream
/// user's subject depends on it).
const SUBJECT_NAMESPACE: Uuid = Uuid::from_u128(0x5f1c_7f0e_2b0a_4f4e_9a55_6d1d_3c39_8e21);

/// The allowed domains, lowercase, each checked to be a domain name.
pub(crate) fn parse_domains(domains: &[String]) -> Result<Vec<String>, UpstreamError> {
    domains
        .iter()
        .map(|domain| {
            let domain = domain.trim().trim_start_matches('@').to_ascii_lowercase();
            let label_ok = |label: &str| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            };
            if domain.contains('.') && domain.split('.').all(label_ok) {
                Ok(domain)
            } else {
                Err(UpstreamError::Domain(domain))
            }
        })
        .collect()
}

/// Why the provider's user may not sign in here.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AccountRefusal {
    /// `--upstream-allowed-domains` is set and the user has no verified email.
    #[error("this server accepts only accounts with a verified email address")]
    NoVerifiedEmail,
    /// The verified email's domain is not allowed.
    #[error("accounts of the domain {0} may not sign in to this server")]
    Domain(String),
    /// The verified email is not a plain address (several `@`, whitespace, control
    /// characters): its domain cannot be told.
    #[error("the account's email address is not one whose domain this server can check")]
    UnclearEmail,
}

/// Checks `user` against the allowed domains (all domains when the list is empty).
pub(crate) fn check_domain(
    user: &UpstreamUser,
    allowed_domains: &[String],
) -> Result<(), AccountRefusal> {
    if allowed_domains.is_empty() {
        return Ok(());
    }
    let email = user
        .email
        .as_deref()
        .filter(|_| user.email_verified)
        .ok_or(AccountRefusal::NoVerifiedEmail)?;
    let plain = |c: char| !c.is_whitespace() && !c.is_control();
    let domain = email
        .split_once('@')
        .filter(|(local, domain)| {
            !local.is_empty() && !domain.contains('@') && email.chars().all(plain)
        })
        .map(|(_, domain)| domain.to_ascii_lowercase())
        .ok_or(AccountRefusal::UnclearEmail)?;
    if allowed_domains.contains(&domain) {
        Ok(())
    } else {
        Err(AccountRefusal::Domain(domain))
    }
}

/// The subject of `sub` at the provider `issuer`.
pub(crate) fn subject(issuer: &str, sub: &str) -> UserId {
    let name = format!("{issuer}\0{sub}");
    let uuid = Uuid::new_v5(&SUBJECT_NAMESPACE, name.as_bytes());
    // A hyphenated UUID always parses back.
    UserId::parse(&uuid.hyphenated().to_string()).unwrap_or_else(|_| UserId::random())
}

/// The username to show for `user`: see the module documentation.
fn base_username(user: &UpstreamUser) -> String {
    let source = user
        .email
        .as_deref()
        .filter(|email| user.email_verified && !email.trim().is_empty())
        .unwrap_or(&user.sub);
    let name: String = source
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(Username::MAX_LEN - 9)
        .collect();
    // The rules of a name an operator creates (`Username::parse_new`): no leading `-`, which
    // a command line reads as a flag, and a letter or digit (`..` names no one).
    let name = name.trim_start_matches('-');
    if name.chars().any(|c| c.is_ascii_alphanumeric()) {
        name.to_owned()
    } else {
        "user".to_owned()
    }
}

/// The provider's `user` as a user here: their store record made on first sign-in, then read
/// back with their allowed scopes.
pub(crate) async fn sign_in(
    server: &AuthorizationServer,
    issuer: &str,
    user: &UpstreamUser,
) -> Result<DirectoryUser, DirectoryError> {
    let subject = subject(issuer, &user.sub);
    let directory = users::StoreDirectory::new(server.store.users.clone(), server.argon2.clone());
    if let Some(known) = directory.find(subject).await? {
        return Ok(known);
    }
    let base = base_username(user);
    let taken = match Username::parse_new(&base) {
        Ok(name) => server
            .store
            .users
            .get_by_username(&name)
            .await?
            .is_some_and(|other| other.id != subject),
        Err(_) => true,
    };
    let username = if taken {
        let short = subject.as_uuid().simple().to_string();
        format!("{base}-{}", &short[..8])
    } else {
        base
    };
    users::ensure_stored(
        server,
        &DirectoryUser {
            subject,
            username,
            allowed_scopes: Scope::default(),
        },
    )
    .await?;
    directory.find(subject).await?.ok_or_else(|| {
        DirectoryError::Failed(format!(
            "the upstream user {subject} was stored, then not found"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(email: Option<&str>, verified: bool) -> UpstreamUser {
        UpstreamUser {
            sub: "sub-1".into(),
            email: email.map(str::to_owned),
            email_verified: verified,
            preferred_username: None,
            name: None,
        }
    }

    #[test]
    fn one_subject_per_issuer_and_sub() {
        let a = subject("https://idp.example", "123");
        assert_eq!(a, subject("https://idp.example", "123"));
        assert_ne!(a, subject("https://other.example", "123"));
        assert_ne!(a, subject("https://idp.example", "1234"));
        assert_ne!(
            subject("https://idp.example/a", "b"),
            subject("https://idp.example/", "ab")
        );
    }

    #[test]
    fn allowed_domains_need_a_verified_email_of_the_domain() {
        let domains = parse_domains(&["Example.com".into(), "@corp.example".into()]).unwrap();
        assert_eq!(domains, ["example.com", "corp.example"]);
        assert!(check_domain(&user(Some("jane@EXAMPLE.com"), true), &domains).is_ok());
        assert!(matches!(
            check_domain(&user(Some("jane@example.com"), false), &domains),
            Err(AccountRefusal::NoVerifiedEmail)
        ));
        assert!(matches!(
            check_domain(&user(None, true), &domains),
            Err(AccountRefusal::NoVerifiedEmail)
        ));
        assert!(matches!(
            check_domain(&user(Some("jane@sub.example.com"), true), &domains),
            Err(AccountRefusal::Domain(d)) if d == "sub.example.com"
        ));
        assert!(check_domain(&user(None, false), &[]).is_ok());
        for unclear in [
            "i@evil.com@example.com",
            "o@evil.com\u{0}@example.com",
            "@example.com",
            "a b@example.com",
        ] {
            assert_eq!(
                check_domain(&user(Some(unclear), true), &domains),
                Err(AccountRefusal::UnclearEmail),
                "{unclear:?}"
            );
        }
        assert!(parse_domains(&["not a domain".into()]).is_err());
        assert!(parse_domains(&["localhost".into()]).is_err());
    }

    #[test]
    fn usernames_come_from_the_verified_email_or_the_subject() {
        let mut jane = user(Some("jane.doe@example.com"), true);
        assert_eq!(base_username(&jane), "jane.doe_example.com");
        assert!(Username::parse(&base_username(&jane)).is_ok());
        // What any user can set to anything names no one.
        jane.preferred_username = Some("victim_example.com".into());
        assert_eq!(base_username(&jane), "jane.doe_example.com");
        assert_eq!(
            base_username(&user(Some("victim@example.com"), false)),
            "sub-1"
        );
        assert_eq!(base_username(&user(None, false)), "sub-1");
        // Names `outpost users` can manage without `--`, with a letter or digit.
        for (sub, made) in [
            ("-rf", "rf"),
            ("..", "user"),
            ("!!!", "user"),
            ("--x-", "x-"),
        ] {
            let mut someone = user(None, false);
            someone.sub = sub.into();
            assert_eq!(base_username(&someone), made);
            assert!(Username::parse_new(made).is_ok());
        }
    }
}
