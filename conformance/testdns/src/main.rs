//! `signet-testdns --listen 127.0.0.1:8053 --dir DIR`

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let listen = arg("--listen").unwrap_or_else(|| "127.0.0.1:8053".into());
    let dir = arg("--dir").expect("--dir DIR is required");
    let socket = tokio::net::UdpSocket::bind(&listen).await?;
    println!("dns: {}", socket.local_addr()?);
    signet_testdns::serve(socket, dir.into()).await
}
