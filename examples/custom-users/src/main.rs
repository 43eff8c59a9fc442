//! Outpost signing users in against the application's own user table instead of its store:
//! a [`UserDirectory`] over an in-memory table of argon2id hashes (carol may use the `reports`
//! tool, dave may not), and tools that read the caller with the `Caller` extractor.
//!
//! `cargo run -p outpost-example-custom-users`, then connect an MCP client to
//! http://127.0.0.1:8000/mcp and sign in as carol / "correct horse battery staple".
//! OUTPOST_BIND, OUTPOST_PUBLIC_URL and OUTPOST_STORE change the address and the store (which
//! keeps clients, grants and keys; the users stay in the table below).

use std::{collections::HashMap, sync::Arc};

use outpost::{
    Outpost,
    auth::{
        resource::{Caller, requires_scope},
        scope::Scope,
        server::{
            password::{hash_password, limit::Argon2Pool},
            users::{DirectoryError, DirectoryUser, UserDirectory, async_trait},
        },
    },
    store::{PasswordHash, UserId, Username},
};
use rmcp::{
    ServerHandler, handler::server::router::tool::ToolRouter, tool, tool_handler, tool_router,
};

/// The application's users: id, name, password, and the scopes beyond `mcp` they may be
/// granted. A real application reads these from its own database; only hashes are kept.
const USERS: [(&str, &str, &str, &str); 2] = [
    (
        "3f8e5a52-6a3c-4c1e-9a4b-6d2f0c7e1b11",
        "carol",
        "correct horse battery staple",
        "reports",
    ),
    (
        "9b1c2d3e-4f50-4a6b-8c7d-8e9f0a1b2c3d",
        "dave",
        "tr0ub4dor&3",
        "",
    ),
];

/// The user table: lowercase name → the password's argon2id hash and the user.
struct TeamUsers {
    by_name: HashMap<String, (PasswordHash, DirectoryUser)>,
    /// Checked for unknown names, so that they cost what a known name costs (timing does not
    /// tell which names exist).
    dummy: PasswordHash,
    /// Bounds how many argon2 checks run at once (each takes ~19 MiB and tens of ms).
    argon2: Argon2Pool,
}

impl TeamUsers {
    fn load() -> Result<Self, Box<dyn std::error::Error>> {
        let mut by_name = HashMap::new();
        for (id, name, password, scopes) in USERS {
            let user = DirectoryUser {
                subject: UserId::parse(id)?,
                username: name.to_owned(),
                allowed_scopes: Scope::parse(scopes)?,
            };
            by_name.insert(name.to_owned(), (hash_password(password)?, user));
        }
        let dummy = hash_password("no user has this password")?;
        Ok(Self {
            by_name,
            dummy,
            argon2: Argon2Pool::default(),
        })
    }
}

#[async_trait]
impl UserDirectory for TeamUsers {
    async fn verify_password(
        &self,
        username: &Username,
        password: &str,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        let (hash, user) = match self.by_name.get(&username.key()) {
            Some((hash, user)) => (hash.clone(), Some(user)),
            None => (self.dummy.clone(), None),
        };
        let matches = self.argon2.verify(password.to_owned(), hash).await?;
        Ok(user.filter(|_| matches).cloned())
    }

    async fn find(&self, subject: UserId) -> Result<Option<DirectoryUser>, DirectoryError> {
        let mut users = self.by_name.values().map(|(_, user)| user);
        Ok(users.find(|user| user.subject == subject).cloned())
    }
}

#[derive(Clone)]
struct Tools(Arc<ToolRouter<Tools>>);

#[tool_router]
impl Tools {
    #[tool(description = "Who is calling: the user's id and name, and the scopes granted")]
    fn whoami(&self, Caller(me): Caller) -> String {
        match me {
            Some(me) => format!(
                "{} ({}), scopes: {}",
                me.username.unwrap_or_default(),
                me.subject,
                me.scopes
            ),
            None => "nobody: this server runs without authentication".into(),
        }
    }

    /// Declares the `reports` scope: a token without it gets `403 insufficient_scope`, and the
    /// client asks the user to authorize again; only users allowed it (carol) get it.
    #[tool(description = "This month's report (requires the reports scope)", meta = requires_scope("reports"))]
    fn monthly_report(&self, Caller(me): Caller) -> String {
        let name = me.and_then(|me| me.username).unwrap_or_default();
        format!("Report for {name}: 42 widgets sold.")
    }
}

#[tool_handler(router = self.0)]
impl ServerHandler for Tools {}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt::init();
    Outpost::builder(Tools(Arc::new(Tools::tool_router())))
        .user_directory(TeamUsers::load()?)
        .settings_from_env()
        .serve(outpost::shutdown_signal())
        .await?;
    Ok(())
}
