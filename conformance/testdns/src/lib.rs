//! Answers DNS TXT queries from a directory: the file `<dir>/<name>` (lower
//! case, no trailing dot) holds one TXT value per line. Every other query
//! gets an empty NOERROR answer. Enough for dns-01 against real clients.

use std::path::{Path, PathBuf};

use tokio::net::UdpSocket;

const TYPE_TXT: u16 = 16;

/// Parse the question of a query: (id, name, qtype, end of question).
fn question(q: &[u8]) -> Option<(u16, String, u16, usize)> {
    if q.len() < 12 || u16::from_be_bytes([q[4], q[5]]) != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None; // compression is not used in questions
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    Some((
        u16::from_be_bytes([q[0], q[1]]),
        labels.join("."),
        qtype,
        i + 4,
    ))
}

fn records(dir: &Path, name: &str) -> Vec<String> {
    if name.contains('/') || name.starts_with('.') {
        return Vec::new();
    }
    std::fs::read_to_string(dir.join(name))
        .map(|s| {
            s.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// Build the response to one query.
pub fn answer(query: &[u8], dir: &Path) -> Option<Vec<u8>> {
    let (id, name, qtype, end) = question(query)?;
    let values = if qtype == TYPE_TXT {
        records(dir, &name)
    } else {
        Vec::new()
    };
    let mut r = Vec::with_capacity(512);
    r.extend_from_slice(&id.to_be_bytes());
    r.extend_from_slice(&[0x84, 0x00]); // response, authoritative, NOERROR
    r.extend_from_slice(&1u16.to_be_bytes());
    r.extend_from_slice(&(values.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(&query[12..end]);
    for v in values {
        let v = &v.as_bytes()[..v.len().min(255)];
        r.extend_from_slice(&[0xc0, 0x0c]); // pointer to the question name
        r.extend_from_slice(&TYPE_TXT.to_be_bytes());
        r.extend_from_slice(&1u16.to_be_bytes());
        r.extend_from_slice(&0u32.to_be_bytes()); // TTL 0: never cached
        r.extend_from_slice(&((v.len() + 1) as u16).to_be_bytes());
        r.push(v.len() as u8);
        r.extend_from_slice(v);
    }
    Some(r)
}

/// Serve forever on a bound UDP socket.
pub async fn serve(socket: UdpSocket, dir: PathBuf) -> std::io::Result<()> {
    let mut buf = [0u8; 1500];
    loop {
        let (n, peer) = socket.recv_from(&mut buf).await?;
        if let Some(resp) = answer(&buf[..n], &dir) {
            let _ = socket.send_to(&resp, peer).await;
        }
    }
}
