//! The server under soak: one `outpost serve --demo` process on a SQLite store in a directory
//! of its own, on a free loopback port, and its resident memory read from `/proc`.

use std::{
    fs::File,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context, bail};

use crate::listening::{free_loopback_port, wait_until_listening};

/// A running `outpost serve`, killed and its directory removed on drop.
pub struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl ServerProcess {
    /// Starts `outpost` (the binary at `binary`) with the demo users and a fresh SQLite store,
    /// its log in the store's directory; waits until it accepts connections.
    pub fn start(binary: &Path) -> anyhow::Result<Self> {
        let addr = free_loopback_port()?;
        let dir = std::env::temp_dir().join(format!("outpost-soak-{}", addr.port()));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {dir:?}"))?;
        let log = File::create(dir.join("server.log"))?;
        let store = format!("sqlite://{}", dir.join("soak.db").display());
        let mut child = Command::new(binary)
            .args([
                "serve",
                "--demo",
                "--bind",
                &addr.to_string(),
                "--store",
                &store,
            ])
            .env("OUTPOST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        if let Err(error) =
            wait_until_listening(&mut child, "outpost", addr, Duration::from_secs(30))
        {
            let _ = child.kill();
            return Err(error);
        }
        Ok(Self { child, addr, dir })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its log file.
    pub fn log(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// Its resident set size (`VmRSS`), in KiB; fails once the process has exited.
    pub fn rss_kib(&mut self) -> anyhow::Result<u64> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the server exited ({status})");
        }
        crate::procfs::rss_kib(self.child.id())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
