//! The processes the data-plane bench runs, all on 127.0.0.1: the upstream
//! (nginx serving a small static file), and the proxies in front of it
//! (HAProxy, nginx, windlass's proxy in a process of its own), each given
//! the configuration a careful operator would write for this job.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The body the upstream serves: about the size of nginx's welcome page.
pub const BODY_BYTES: usize = 612;

/// A process the bench started; killed when dropped.
pub struct Process {
    child: Child,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A proxy under test: where it listens for HTTP and for TCP, and the
/// process whose CPU time is counted.
pub struct Proxy {
    pub name: &'static str,
    pub http: SocketAddr,
    pub tcp: SocketAddr,
    pub processes: Vec<Process>,
}

/// Whether `program` is on PATH.
pub fn installed(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// A port nothing listens on now (the bench's own processes take them
/// right after, on loopback only).
fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().expect("local address")
}

/// Waits until `addr` accepts connections.
fn wait_listening(name: &str, addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "{name} is not listening on {addr} after 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn(name: &'static str, command: &mut Command, log: &Path) -> Process {
    let log = std::fs::File::create(log).expect("create a log file");
    let child = command
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    Process { child }
}

/// nginx with one worker, serving `/index.html` of `BODY_BYTES` bytes.
pub fn upstream(dir: &Path) -> (Process, SocketAddr) {
    let root = dir.join("www");
    std::fs::create_dir_all(&root).expect("create the upstream's root");
    std::fs::write(root.join("index.html"), vec![b'w'; BODY_BYTES]).expect("write the body");
    let addr = free_addr();
    let server = format!(
        "server {{ listen {addr}; root {root}; keepalive_requests 10000000; }}",
        root = root.display()
    );
    let process = nginx("upstream nginx", dir, "upstream", 1, &server, "");
    wait_listening("the upstream nginx", addr);
    (process, addr)
}

fn nginx(
    name: &'static str,
    dir: &Path,
    prefix: &str,
    workers: usize,
    http: &str,
    stream: &str,
) -> Process {
    let work = dir.join(prefix);
    std::fs::create_dir_all(&work).expect("create nginx's folder");
    let mut conf = String::new();
    if !stream.is_empty() {
        // Debian ships the stream module as a dynamic one (libnginx-mod-stream).
        conf.push_str("load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n");
    }
    let _ = write!(
        conf,
        "daemon off;\nmaster_process on;\nworker_processes {workers};\n\
         pid {work}/nginx.pid;\nerror_log {work}/error.log warn;\n\
         events {{ worker_connections 8192; }}\n\
         http {{ access_log off; client_body_temp_path {work}/body; proxy_temp_path {work}/proxy;\n\
         fastcgi_temp_path {work}/fastcgi; uwsgi_temp_path {work}/uwsgi; scgi_temp_path {work}/scgi;\n\
         {http}\n}}\n",
        work = work.display()
    );
    if !stream.is_empty() {
        let _ = writeln!(conf, "stream {{ {stream} }}");
    }
    let path = work.join("nginx.conf");
    std::fs::write(&path, conf).expect("write nginx.conf");
    spawn(
        name,
        Command::new("nginx")
            .arg("-p")
            .arg(&work)
            .arg("-c")
            .arg(&path)
            .arg("-e")
            .arg(work.join("error.log")),
        &work.join("stdout.log"),
    )
}

/// nginx as a reverse proxy (keep-alive to the upstream, as it is not by
/// default) and a stream (TCP) proxy, one worker per core.
pub fn nginx_proxy(dir: &Path, upstream: SocketAddr) -> Proxy {
    let (http, tcp) = (free_addr(), free_addr());
    let conf = format!(
        "upstream app {{ server {upstream}; keepalive 64; }}\n\
         server {{ listen {http}; keepalive_requests 10000000;\n\
         location / {{ proxy_pass http://app; proxy_http_version 1.1;\n\
         proxy_set_header Connection \"\"; proxy_set_header X-Forwarded-For $remote_addr; }} }}"
    );
    let stream = format!("server {{ listen {tcp}; proxy_pass {upstream}; }}");
    let process = nginx("nginx", dir, "nginx", cores(), &conf, &stream);
    wait_listening("nginx", http);
    wait_listening("nginx", tcp);
    Proxy {
        name: "nginx",
        http,
        tcp,
        processes: vec![process],
    }
}

/// HAProxy 2.6 as Debian ships it: one process, one thread per core (its
/// default), HTTP mode with `option forwardfor` as windlass adds the header,
/// and a TCP mode listener.
pub fn haproxy(dir: &Path, upstream: SocketAddr) -> Proxy {
    let (http, tcp) = (free_addr(), free_addr());
    let work = dir.join("haproxy");
    std::fs::create_dir_all(&work).expect("create haproxy's folder");
    let conf = format!(
        "global\n  maxconn 8000\n\
         defaults\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n\
         frontend web\n  mode http\n  bind {http}\n  option forwardfor\n  default_backend app\n\
         backend app\n  mode http\n  server s1 {upstream}\n\
         listen raw\n  mode tcp\n  bind {tcp}\n  server s1 {upstream}\n"
    );
    let path = work.join("haproxy.cfg");
    std::fs::write(&path, conf).expect("write haproxy.cfg");
    let process = spawn(
        "haproxy",
        Command::new("haproxy").arg("-db").arg("-f").arg(&path),
        &work.join("haproxy.log"),
    );
    wait_listening("haproxy", http);
    wait_listening("haproxy", tcp);
    Proxy {
        name: "haproxy",
        http,
        tcp,
        processes: vec![process],
    }
}

/// windlass's proxy in a process of its own (this bench binary again, see
/// `serve`), an HTTP and a TCP proxy routed to the upstream.
pub fn windlass(dir: &Path, upstream: SocketAddr) -> Proxy {
    own("windlass", dir, upstream)
}

/// windlass's proxy with a canary at 50 % beside the live release.
pub fn weighted(dir: &Path, upstream: SocketAddr) -> Proxy {
    own("weighted", dir, upstream)
}

/// windlass's proxy as the Swarm entry runs it: hedging after 1 s
/// (`Config::hedge_after`), the release's two upstreams both the upstream.
pub fn hedged(dir: &Path, upstream: SocketAddr) -> Proxy {
    own("hedged", dir, upstream)
}

/// The same HTTP and TCP stack (hyper, tokio, the same runtime) forwarding
/// straight to the upstream, with none of windlass's routing or counting.
pub fn floor(dir: &Path, upstream: SocketAddr) -> Proxy {
    own("floor", dir, upstream)
}

/// windlass's proxy as another build of this bench serves it
/// (`DATA_PLANE_BASELINE`: its path), to compare two builds in the same
/// rounds.
pub fn baseline(dir: &Path, upstream: SocketAddr) -> Option<Proxy> {
    let exe = std::env::var_os("DATA_PLANE_BASELINE")?;
    Some(serve(
        "baseline",
        "windlass",
        PathBuf::from(exe),
        dir,
        upstream,
    ))
}

fn own(name: &'static str, dir: &Path, upstream: SocketAddr) -> Proxy {
    let exe = std::env::current_exe().expect("the bench's own path");
    serve(name, name, exe, dir, upstream)
}

/// Runs `exe` (a build of this bench) as proxy `mode`.
fn serve(name: &'static str, mode: &str, exe: PathBuf, dir: &Path, upstream: SocketAddr) -> Proxy {
    let log = dir.join(format!("{name}.log"));
    let mut child = Command::new(exe)
        .env(super::SERVE, format!("{mode}:{upstream}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the proxy prints its addresses");
    let mut addrs = line.split_whitespace().map(|a| {
        a.parse::<SocketAddr>()
            .unwrap_or_else(|e| panic!("{name} printed {line:?}: {e}"))
    });
    let (Some(http), Some(tcp)) = (addrs.next(), addrs.next()) else {
        panic!("{name} printed {line:?}, not two addresses");
    };
    Proxy {
        name,
        http,
        tcp,
        processes: vec![Process { child }],
    }
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A temporary folder for configurations and logs, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("windlass-data-plane-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a temporary folder");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
