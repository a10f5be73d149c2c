//! [`Partition`]: a TCP relay between the hub and a real service that a test can cut, as a
//! network partition would: after [`Partition::cut`] nothing crosses it any more, in either
//! direction, and the sockets stay open (no reset tells the client), so only a timeout can
//! notice. [`Outage`]: a relay a test can take down and bring back, as a restarted service
//! would be: down, every connection is closed and new ones are refused at once.

use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub struct Partition {
    pub addr: std::net::SocketAddr,
    cut: CancellationToken,
    stop: CancellationToken,
}

impl Partition {
    /// Relays connections on a loopback port to `target` (`host:port`).
    pub async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, stop) = (CancellationToken::new(), CancellationToken::new());
        // Sockets held open, silent, once the link is cut.
        let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (cut_, stop_) = (cut.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = stop_.cancelled() => break,
                    accepted = listener.accept() => accepted,
                };
                let Ok((client, _)) = accepted else { continue };
                if cut_.is_cancelled() {
                    held.lock().unwrap().push(client);
                    continue;
                }
                let (cut, held) = (cut_.clone(), held.clone());
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    relay(client, server, cut, held).await;
                });
            }
        });
        Self { addr, cut, stop }
    }

    /// From now on nothing crosses, and new connections are accepted but never answered.
    pub fn cut(&self) {
        self.cut.cancel();
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Copies both ways until either side closes or the link is cut; a cut keeps both sockets.
async fn relay(
    mut client: TcpStream,
    mut server: TcpStream,
    cut: CancellationToken,
    held: Arc<Mutex<Vec<TcpStream>>>,
) {
    let copied = tokio::select! {
        () = cut.cancelled() => None,
        copied = tokio::io::copy_bidirectional(&mut client, &mut server) => Some(copied),
    };
    if copied.is_none() {
        held.lock().unwrap().extend([client, server]);
    } else {
        let _ = client.shutdown().await;
    }
}

/// A relay to a real service that a test can take [`down`](Outage::down) (open connections
/// closed, new ones closed on accept) and bring [`up`](Outage::up) again.
pub struct Outage {
    pub addr: std::net::SocketAddr,
    /// Cancelled when the service goes down; replaced when it comes back.
    up: Arc<Mutex<CancellationToken>>,
    stop: CancellationToken,
}

impl Outage {
    /// Relays connections on a loopback port to `target` (`host:port`).
    pub async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(Mutex::new(CancellationToken::new()));
        let stop = CancellationToken::new();
        let (up_, stop_) = (up.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = stop_.cancelled() => break,
                    accepted = listener.accept() => accepted,
                };
                let Ok((mut client, _)) = accepted else {
                    continue;
                };
                let up = up_.lock().unwrap().clone();
                if up.is_cancelled() {
                    let _ = client.shutdown().await;
                    continue;
                }
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        () = up.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                });
            }
        });
        Self { addr, up, stop }
    }

    /// Closes every connection; new ones are closed as soon as they are accepted.
    pub fn down(&self) {
        self.up.lock().unwrap().cancel();
    }

    /// Relays new connections again.
    pub fn up(&self) {
        *self.up.lock().unwrap() = CancellationToken::new();
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        self.stop.cancel();
        self.down();
    }
}
