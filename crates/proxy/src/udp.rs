//! The UDP side of the proxy (DNS servers, media relays, log intake): each
//! client address is a *flow*, routed once, when its first datagram
//! arrives, to one upstream of the live release, and then relayed datagram
//! by datagram both ways through a socket of its own connected to that
//! upstream. A flow stays on the release it began on, as a TCP connection
//! does, until it has been idle for [`Config::udp_idle_timeout`], a drain
//! cuts it, or the proxy stops; the client's next datagram then begins a
//! new flow on the release live by then.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use crate::router::Router;
use crate::Config;

/// The largest datagram UDP carries.
const DATAGRAM: usize = 65_535;
/// Datagrams a flow queues while it waits for a release or its upstream
/// socket; more are dropped, as a full socket buffer would drop them.
const QUEUE: usize = 256;

/// The open flows, by client address; each flow's number tells a flow
/// that ended from a newer one of the same client.
type Flows = Arc<Mutex<HashMap<SocketAddr, (u64, mpsc::Sender<Bytes>)>>>;

pub(crate) async fn serve(
    socket: UdpSocket,
    router: Arc<Router>,
    config: Config,
    mut stop: watch::Receiver<bool>,
) {
    let relay = Relay {
        socket: Arc::new(socket),
        router,
        config: Arc::new(config),
        flows: Arc::default(),
        stop: stop.clone(),
    };
    let mut next = 0u64;
    let mut buffer = vec![0u8; DATAGRAM];
    loop {
        let received = tokio::select! {
            received = relay.socket.recv_from(&mut buffer) => received,
            _ = stop.changed() => return,
        };
        let (length, client) = match received {
            Ok(received) => received,
            Err(err) => {
                // An ICMP error of an earlier send to a client, say.
                tracing::debug!(%err, "proxy could not receive a datagram");
                continue;
            }
        };
        let datagram = Bytes::copy_from_slice(&buffer[..length]);
        let mut open = relay.flows.lock().unwrap_or_else(PoisonError::into_inner);
        let datagram = match open.get(&client) {
            None => datagram,
            Some((_, queue)) => match queue.try_send(datagram) {
                Ok(()) => continue,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::debug!(%client, "flow's queue is full; dropping a datagram");
                    continue;
                }
                // The flow ended: a new one begins.
                Err(mpsc::error::TrySendError::Closed(datagram)) => datagram,
            },
        };
        next += 1;
        relay.begin(&mut open, client, next, datagram);
    }
}

/// What every flow of one proxy shares.
struct Relay {
    socket: Arc<UdpSocket>,
    router: Arc<Router>,
    config: Arc<Config>,
    flows: Flows,
    stop: watch::Receiver<bool>,
}

impl Relay {
    /// Begins flow `number` of `client` with its first datagram.
    fn begin(
        &self,
        open: &mut HashMap<SocketAddr, (u64, mpsc::Sender<Bytes>)>,
        client: SocketAddr,
        number: u64,
        first: Bytes,
    ) {
        let (queue, datagrams) = mpsc::channel(QUEUE);
        // A fresh channel has room for its first datagram.
        let _ = queue.try_send(first);
        open.insert(client, (number, queue));
        let flow = Flow {
            client,
            socket: Arc::clone(&self.socket),
            router: Arc::clone(&self.router),
            config: Arc::clone(&self.config),
        };
        let flows = Arc::clone(&self.flows);
        let stop = self.stop.clone();
        tokio::spawn(async move {
            flow.run(datagrams, stop).await;
            let mut open = flows.lock().unwrap_or_else(PoisonError::into_inner);
            if open.get(&client).is_some_and(|(n, _)| *n == number) {
                open.remove(&client);
            }
        });
    }
}

struct Flow {
    client: SocketAddr,
    socket: Arc<UdpSocket>,
    router: Arc<Router>,
    config: Arc<Config>,
}

impl Flow {
    async fn run(self, mut datagrams: mpsc::Receiver<Bytes>, mut stop: watch::Receiver<bool>) {
        let client = self.client;
        let in_flight = tokio::select! {
            held = self.router.hold(None) => match held {
                Ok(in_flight) => in_flight,
                Err(waited) => {
                    tracing::debug!(%client, ?waited, "no release became live within the hold timeout; dropping the flow's datagrams");
                    return;
                }
            },
            _ = stop.changed() => return,
        };
        let state = Arc::clone(in_flight.state());
        state.record_connection();
        let Some(upstream) = state.upstreams().next() else {
            return;
        };
        let unspecified: SocketAddr = if upstream.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let connected = async {
            let socket = UdpSocket::bind(unspecified).await?;
            socket.connect(upstream).await?;
            Ok::<_, std::io::Error>(socket)
        };
        let upstream_socket = match connected.await {
            Ok(socket) => socket,
            Err(err) => {
                tracing::debug!(release = %state.release.id, %upstream, %err, "cannot open a socket to the upstream");
                state.record_failed_connect();
                return;
            }
        };
        let idle = self.config.udp_idle_timeout;
        let mut buffer = vec![0u8; DATAGRAM];
        loop {
            tokio::select! {
                datagram = tokio::time::timeout(idle, datagrams.recv()) => match datagram {
                    Ok(Some(datagram)) => match upstream_socket.send(&datagram).await {
                        Ok(sent) => {
                            state.bytes_to_upstream.fetch_add(sent as u64, Ordering::Relaxed);
                        }
                        Err(err) => {
                            tracing::debug!(release = %state.release.id, %upstream, %err, "upstream refused a datagram; ending the flow");
                            state.record_failed_connect();
                            return;
                        }
                    },
                    // Idle for the whole timeout, or the proxy dropped the queue.
                    Ok(None) | Err(_) => return,
                },
                received = upstream_socket.recv(&mut buffer) => match received {
                    Ok(length) => {
                        state.bytes_from_upstream.fetch_add(length as u64, Ordering::Relaxed);
                        if let Err(err) = self.socket.send_to(&buffer[..length], client).await {
                            tracing::debug!(%client, %err, "cannot send a datagram back to the client");
                        }
                    }
                    Err(err) => {
                        // ICMP port unreachable: the upstream is gone.
                        tracing::debug!(release = %state.release.id, %upstream, %err, "upstream socket failed; ending the flow");
                        state.record_failed_connect();
                        return;
                    }
                },
                () = in_flight.cut() => {
                    tracing::debug!(release = %state.release.id, %client, "drain timeout passed; ending the flow");
                    return;
                }
                _ = stop.changed() => return,
            }
        }
    }
}

/// How long a flow may go without a datagram either way before it ends.
pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
