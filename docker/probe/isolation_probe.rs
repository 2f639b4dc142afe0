//! A tiny std-only static program the provisioner's tests run inside tenant containers, to
//! check isolation from the inside (a FROM scratch image has no shell). Also usable as a
//! stand-in tenant bot: `serve` listens on a port and idles until SIGTERM.
//!
//! Usage: isolation_probe <command> [arg]
//!   serve <port>       listen on 0.0.0.0:<port>, answer "probe\n", exit 0 on SIGTERM
//!   connect <ip:port>  exit 0 when a TCP connection succeeds within 2 s, 1 otherwise
//!   write <path>       exit 0 when <path> can be created and written, 1 otherwise
//!   exists <path>      exit 0 when <path> exists, 1 otherwise
//!   alloc <mib>        touch <mib> MiB of memory, then exit 0
//!   whoami             print the uid
use std::io::Write;
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    fn _exit(code: i32) -> !;
    fn getuid() -> u32;
}

extern "C" fn on_term(_: i32) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { _exit(0) }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let command = args.get(1).map(String::as_str).unwrap_or("");
    let arg = args.get(2).cloned().unwrap_or_default();
    let ok = match command {
        "serve" => serve(&arg),
        "connect" => connect(&arg),
        "write" => std::fs::File::create(&arg)
            .and_then(|mut f| f.write_all(b"x"))
            .map_err(|e| eprintln!("write {arg}: {e}"))
            .is_ok(),
        "exists" => std::path::Path::new(&arg).exists(),
        "alloc" => alloc(arg.parse().unwrap_or(0)),
        "whoami" => {
            // SAFETY: getuid has no preconditions.
            println!("{}", unsafe { getuid() });
            true
        }
        _ => {
            eprintln!("unknown command {command:?}");
            false
        }
    };
    std::process::exit(if ok { 0 } else { 1 });
}

fn serve(port: &str) -> bool {
    // SAFETY: installs a handler that only calls _exit. SIGTERM is 15.
    unsafe { signal(15, on_term) };
    println!("probe serving on port {port}");
    let listener = match TcpListener::bind(format!("0.0.0.0:{port}")) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bind: {e}");
            return false;
        }
    };
    for mut stream in listener.incoming().flatten() {
        let _ = stream.write_all(b"probe\n");
    }
    true
}

fn connect(addr: &str) -> bool {
    let Some(addr) = addr.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        eprintln!("bad address {addr}");
        return false;
    };
    match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Ok(_) => true,
        Err(e) => {
            eprintln!("connect {addr}: {e}");
            false
        }
    }
}

fn alloc(mib: usize) -> bool {
    let mut blocks = Vec::new();
    for _ in 0..mib {
        let mut block = vec![0u8; 1024 * 1024];
        for i in (0..block.len()).step_by(4096) {
            block[i] = 1;
        }
        blocks.push(block);
    }
    println!("allocated {} MiB", blocks.len());
    true
}
