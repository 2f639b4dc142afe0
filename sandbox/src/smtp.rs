//! A local SMTP sink: speaks enough SMTP (RFC 5321) for a real client to deliver mail to it,
//! and keeps every message so tests can read what was sent. Loopback only.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// One delivered message: the envelope and the raw RFC 5322 text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

pub struct SmtpSink {
    addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
    shutdown: CancellationToken,
}

impl SmtpSink {
    pub async fn start(addr: SocketAddr) -> std::io::Result<SmtpSink> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let mails = Arc::new(Mutex::new(Vec::new()));
        let shutdown = CancellationToken::new();
        let (store, stop) = (mails.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    accepted = listener.accept() => {
                        if let Ok((stream, _)) = accepted {
                            let store = store.clone();
                            tokio::spawn(async move {
                                if let Err(e) = session(stream, store).await {
                                    tracing::debug!(error = %e, "smtp session ended");
                                }
                            });
                        }
                    }
                }
            }
        });
        Ok(SmtpSink {
            addr,
            mails,
            shutdown,
        })
    }

    /// `smtp://127.0.0.1:PORT` for a client such as lettre (no TLS).
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Everything delivered so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().map(|m| m.clone()).unwrap_or_default()
    }

    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Longest line and message we accept, like a real server's limits.
const MAX_LINE: usize = 4096;
const MAX_MESSAGE: usize = 10 * 1024 * 1024;

async fn session(stream: TcpStream, store: Arc<Mutex<Vec<Mail>>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write
        .write_all(b"220 sandbox.madar ESMTP ready\r\n")
        .await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        if line.len() > MAX_LINE {
            write.write_all(b"500 5.5.2 line too long\r\n").await?;
            continue;
        }
        let command = line.trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-sandbox.madar\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760\r\n"
        } else if upper.starts_with("HELO") {
            b"250 sandbox.madar\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&command[10..]);
            to.clear();
            b"250 2.1.0 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            if from.is_empty() {
                b"503 5.5.1 MAIL first\r\n"
            } else {
                to.push(address(&command[8..]));
                b"250 2.1.5 OK\r\n"
            }
        } else if upper == "DATA" {
            if to.is_empty() {
                b"503 5.5.1 RCPT first\r\n"
            } else {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let data = read_data(&mut lines).await?;
                match data {
                    Some(data) => {
                        if let Ok(mut mails) = store.lock() {
                            mails.push(Mail {
                                from: std::mem::take(&mut from),
                                to: std::mem::take(&mut to),
                                data,
                            });
                        }
                        b"250 2.0.0 queued\r\n"
                    }
                    None => b"552 5.3.4 message too big\r\n",
                }
            }
        } else if upper == "RSET" {
            from.clear();
            to.clear();
            b"250 2.0.0 OK\r\n"
        } else if upper == "NOOP" {
            b"250 2.0.0 OK\r\n"
        } else if upper == "QUIT" {
            write.write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 5.5.1 command not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
}

/// Reads the message up to the lone dot, undoing dot-stuffing. `None` when it is too big.
async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut R,
) -> std::io::Result<Option<String>> {
    let mut data = String::new();
    let mut line = String::new();
    let mut too_big = false;
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        if line == ".\r\n" || line == ".\n" {
            return Ok(if too_big { None } else { Some(data) });
        }
        let text = line.strip_prefix('.').unwrap_or(&line);
        if data.len() + text.len() > MAX_MESSAGE {
            too_big = true;
        } else {
            data.push_str(text);
        }
    }
}

/// `<a@b.c> SIZE=123` -> `a@b.c`.
fn address(rest: &str) -> String {
    let rest = rest.trim();
    match (rest.find('<'), rest.find('>')) {
        (Some(open), Some(close)) if open < close => rest[open + 1..close].to_string(),
        _ => rest
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_come_out_of_their_brackets() {
        assert_eq!(super::address("<a@b.c> SIZE=10"), "a@b.c");
        assert_eq!(super::address(" a@b.c"), "a@b.c");
    }
}
