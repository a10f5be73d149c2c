//! [`Haproxy`]: a real HAProxy process in front of a test's hub replicas, with a generated
//! config: the REST API in HTTP mode (each request balanced round-robin, servers checked on
//! `/readyz`, a new server connection per request so that a request that could not connect
//! (a replica stopping) is dispatched to another server), the built-in
//! brokers in TCP mode (a gRPC connection stays on the server it reached until it ends).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::Ports;
use crate::support::{eventually, free_port};

/// The HAProxy binary (`scripts/services` exports it).
pub fn haproxy_bin() -> String {
    std::env::var("HAPROXY_BIN").unwrap_or_else(|_| "/usr/sbin/haproxy".to_owned())
}

/// A running HAProxy; killed on drop.
pub struct Haproxy {
    _child: Child,
    pub http_port: u16,
    pub grpc_port: u16,
}

impl Haproxy {
    pub async fn start(dir: &Path, replicas: &[Ports]) -> Self {
        let (http_port, grpc_port) = (free_port(), free_port());
        let config = dir.join("haproxy.cfg");
        std::fs::write(&config, config_text(http_port, grpc_port, replicas)).unwrap();
        let log = std::fs::File::create(dir.join("haproxy.log")).unwrap();
        let child = Command::new(haproxy_bin())
            .arg("-db") // foreground, logs to stderr
            .arg("-f")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("haproxy starts (scripts/services installs it; set HAPROXY_BIN)");
        eventually("haproxy listening", Duration::from_secs(10), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", http_port))
                .await
                .is_ok()
        })
        .await;
        Self {
            _child: child,
            http_port,
            grpc_port,
        }
    }

    pub fn grpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }
}

/// The response header that names the server HAProxy picked (`hub<i>`).
pub const SERVED_BY: &str = "x-served-by";

fn config_text(http_port: u16, grpc_port: u16, replicas: &[Ports]) -> String {
    // Checks every 200 ms: a killed replica (connection refused) is out of rotation within
    // half a second; until then `redispatch` sends a request that could not connect to another
    // server. A busy replica may take a while to answer /readyz on a loaded test machine:
    // that is not a reason to take it out.
    let check = "check inter 200ms fall 2 rise 1";
    let mut rest = String::new();
    let mut grpc = String::new();
    for (i, ports) in replicas.iter().enumerate() {
        rest.push_str(&format!(
            "  server hub{i} 127.0.0.1:{} {check}\n",
            ports.http
        ));
        grpc.push_str(&format!("  server hub{i} {} {check}\n", ports.grpc_addr()));
    }
    format!(
        "global\n  maxconn 4096\n  log stderr format raw local0\n\
         defaults\n  log global\n  option httplog\n  timeout check 5s\n  timeout connect 1s\n  timeout client 1h\n  timeout server 1h\n  timeout tunnel 1h\n  retries 3\n  option redispatch\n\
         frontend rest\n  mode http\n  bind 127.0.0.1:{http_port}\n  default_backend hubs_rest\n\
         backend hubs_rest\n  mode http\n  balance roundrobin\n  option httpchk GET /readyz\n  option http-server-close\n  http-response set-header {SERVED_BY} %s\n{rest}\
         frontend grpc\n  mode tcp\n  bind 127.0.0.1:{grpc_port}\n  default_backend hubs_grpc\n\
         backend hubs_grpc\n  mode tcp\n  balance roundrobin\n{grpc}"
    )
}
