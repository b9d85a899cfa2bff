//! Servers that take their time, on 127.0.0.1: an HTTP server that trickles its answer one byte a
//! second (or never answers), and a PostgreSQL-shaped listener that accepts connections and never
//! says a word. Each records what reached it; its threads end by themselves within two minutes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the HTTP server answers every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Status and headers at once (200, JSON, Content-Length 4096), then the body one byte a
    /// second.
    Body,
    /// The status line and headers one byte a second.
    Head,
    /// Nothing at all: the connection stays open and silent.
    Stall,
}

const HOLD: Duration = Duration::from_secs(120);

pub struct Slow {
    pub url: String,
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Slow {
    pub fn start(pace: Pace) -> Slow {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let requests = requests.clone();
                    std::thread::spawn(move || answer(conn, pace, &requests));
                }
            });
        }
        Slow {
            url: format!("http://127.0.0.1:{port}"),
            port,
            requests,
            stop,
        }
    }

    /// `METHOD path` of every request received.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Slow {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn answer(conn: TcpStream, pace: Pace, requests: &Mutex<Vec<String>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut writer = conn;
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; len];
    let _ = reader.read_exact(&mut body);
    let mut parts = line.split_whitespace();
    requests.lock().unwrap().push(format!(
        "{} {}",
        parts.next().unwrap_or(""),
        parts.next().unwrap_or("")
    ));
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n";
    let trickled: Vec<u8> = match pace {
        Pace::Body => {
            if writer.write_all(head.as_bytes()).is_err() {
                return;
            }
            let mut b = b"{\"nonce\": \"".to_vec();
            b.extend(std::iter::repeat_n(b'a', 4096));
            b
        }
        Pace::Head => head.as_bytes().to_vec(),
        Pace::Stall => {
            std::thread::sleep(HOLD);
            return;
        }
    };
    let started = Instant::now();
    for byte in trickled {
        if started.elapsed() > HOLD || writer.write_all(&[byte]).is_err() {
            return;
        }
        let _ = writer.flush();
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A TCP listener where a PostgreSQL server would be: it accepts every connection, reads what the
/// client sends (the SSLRequest or StartupMessage) and never answers.
pub struct Silent {
    pub port: u16,
    connections: Arc<AtomicUsize>,
    received: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Silent {
    pub fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (connections, received, stop) =
                (connections.clone(), received.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(mut conn) = conn else { continue };
                    connections.fetch_add(1, Ordering::Relaxed);
                    let received = received.clone();
                    std::thread::spawn(move || {
                        let _ = conn.set_read_timeout(Some(HOLD));
                        let mut buf = [0u8; 4096];
                        let started = Instant::now();
                        while started.elapsed() < HOLD {
                            match conn.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    received.fetch_add(n, Ordering::Relaxed);
                                }
                            }
                        }
                    });
                }
            });
        }
        Silent {
            port,
            connections,
            received,
            stop,
        }
    }

    /// Connections accepted, and bytes the clients sent.
    pub fn seen(&self) -> (usize, usize) {
        (
            self.connections.load(Ordering::Relaxed),
            self.received.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}
