//! Binding the broker's listening socket with a backlog sized for a fleet reconnecting at once.
//! `TcpListener::bind` listens with tokio's default backlog (1,024); when thousands of agents
//! reconnect together (a hub restart, a network flap) the kernel then refuses the excess and
//! every refused agent backs off and retries ("tcp connect error"), stretching the reconnect.
//!
//! Must not serve anything: [`super::Broker::serve`] takes the listener this returns.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// Pending connections the kernel may hold for the broker. Linux caps it at
/// `net.core.somaxconn` (4,096 by default since 5.4), so asking more gains nothing.
pub const BACKLOG: u32 = 4096;

/// Binds `addr` (address reuse on, as `TcpListener::bind` does) and listens with [`BACKLOG`].
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_files_limit() -> u64 {
        std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|l| {
                let line = l.lines().find(|l| l.starts_with("Max open files"))?;
                line.split_whitespace().nth(3)?.parse().ok()
            })
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn a_burst_larger_than_tokios_default_backlog_is_held_by_the_kernel() {
        if open_files_limit() < 2048 {
            eprintln!("skipped: RLIMIT_NOFILE below 2,048 (ulimit -n)");
            return;
        }
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        // Nobody accepts: every connect completes only if the kernel queues it.
        let mut held = Vec::new();
        for _ in 0..1100 {
            let connect = tokio::net::TcpStream::connect(addr);
            let stream = tokio::time::timeout(std::time::Duration::from_secs(5), connect)
                .await
                .expect("queued, not dropped")
                .unwrap();
            held.push(stream);
        }
        assert_eq!(held.len(), 1100);
    }
}
