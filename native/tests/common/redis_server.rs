//! Debian's `redis-server` on 127.0.0.1, on a free port, in a temporary directory, with an
//! append-only file fsynced on every write, stopped by pid. Missing, it fails the test (never
//! skips it) and says how to install it.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`; killed (by pid) when dropped.
pub struct RedisServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server and waits until it answers `PING`.
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self {
            port,
            dir: tempfile::tempdir().expect("a temporary directory"),
            child: None,
        };
        server.spawn();
        server
    }

    /// The URL a store connects to.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (SIGKILL: whatever the append-only file holds is all that survives).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and directory, so that it reloads its
    /// append-only file.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// `redis-cli -p <port> <args>`'s raw output (the reply bytes and a newline).
    pub fn cli(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli (installed with redis-server by scripts/setup)");
        assert!(out.status.success(), "redis-cli {args:?}: {:?}", out);
        out.stdout
    }

    /// `redis-cli`'s reply as trimmed text.
    pub fn cli_text(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.cli(args)).trim().to_owned()
    }

    fn spawn(&mut self) {
        let dir: &Path = self.dir.path();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir)
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .args(["--logfile", "redis.log", "--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}); run scripts/setup to install it")
            });
        self.child = Some(child);
        let started = Instant::now();
        loop {
            let pong = Command::new("redis-cli")
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "PING"])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .is_ok_and(|o| o.stdout.starts_with(b"PONG"));
            if pong {
                return;
            }
            if let Some(child) = &mut self.child {
                if let Ok(Some(status)) = child.try_wait() {
                    let log = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
                    panic!("redis-server exited ({status}):\n{log}");
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "redis-server on port {} did not answer PING within 30 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
