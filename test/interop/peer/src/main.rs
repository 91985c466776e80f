//! Interop test peer: the gateway side of `iroh-http-proxy/1` as n0's `iroh-proxy-utils` implements
//! it (`DownstreamProxy`, the component the production gateway is built on), pointed at one device
//! endpoint. The TypeScript tests (test/e2e/interop.test.ts) talk plain TCP to the proxies this
//! peer opens on loopback and compare what comes back with what our own gateway sees.
//!
//! Usage: `interop-peer <device-endpoint-id> <ip:port>...`
//!
//! On start it prints one JSON line on stdout:
//!   {"event":"ready","endpointId":"<ours>","http":"127.0.0.1:<port>"}
//! `http` is an HTTP forward proxy (`ProxyMode::Http` + `StaticForwardProxy`): every request a
//! client sends there (CONNECT host:port, absolute-form GET/POST, a websocket upgrade) becomes one
//! bi-stream to the device.
//!
//! It then reads JSON commands, one per line, on stdin:
//!   {"op":"tcp","authority":"host:port"}
//! opens a `ProxyMode::Tcp` listener (the library's `create_tunnel`: a raw CONNECT, then the
//! client's bytes as they are) and answers {"event":"tcp","authority":..,"listen":"127.0.0.1:<port>"}.
//!   {"op":"connect","authority":"host:port","sendHex":"..."}
//! calls the library's `create_tunnel` directly (the CONNECT request it writes, the response head it
//! parses), then writes the given bytes into the tunnel, finishes, and reads to the end. Answers
//! {"event":"connect","status":<u16 or null>,"error":<text or null>,"receivedHex":".."}: status 200
//! and the tunnel's bytes, or the status/error `create_tunnel` failed with.
//! End of stdin ends the peer.
use std::{net::SocketAddr, str::FromStr};

use iroh::{
    Endpoint, EndpointAddr, EndpointId, address_lookup::memory::MemoryLookup, endpoint::presets,
};
use iroh_proxy_utils::{
    Authority,
    downstream::{
        DownstreamProxy, EndpointAuthority, HttpProxyOpts, PoolOpts, ProxyMode, StaticForwardProxy,
    },
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, BufReader},
    net::TcpListener,
};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn emit(value: Value) {
    // One line per event; stdout is line-buffered by println.
    println!("{value}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let device: EndpointId = args
        .next()
        .ok_or("usage: interop-peer <device-endpoint-id> <ip:port>...")?
        .parse()?;
    let addrs: Vec<SocketAddr> = args.map(|a| a.parse()).collect::<Result<_, _>>()?;
    if addrs.is_empty() {
        return Err("at least one direct address of the device is needed".into());
    }

    // Relays disabled (Builder::empty), no DNS/pkarr lookup: the device is found only at the
    // addresses given, like the dev cloud's own gateway dials it.
    let lookup = MemoryLookup::new();
    let mut addr = EndpointAddr::new(device);
    for a in &addrs {
        addr = addr.with_ip_addr(*a);
    }
    lookup.add_endpoint_info(addr);
    let endpoint = Endpoint::builder(presets::Minimal)
        .address_lookup(lookup)
        .bind()
        .await?;

    let proxy = DownstreamProxy::new(endpoint.clone(), PoolOpts::default());
    let http = TcpListener::bind("127.0.0.1:0").await?;
    let http_addr = http.local_addr()?;
    {
        let proxy = proxy.clone();
        let mode = ProxyMode::Http(HttpProxyOpts::new(StaticForwardProxy(device)));
        tokio::spawn(async move {
            if let Err(err) = proxy.forward_tcp_listener(http, mode).await {
                eprintln!("interop-peer: http listener ended: {err:#}");
            }
        });
    }
    emit(json!({
        "event": "ready",
        "endpointId": endpoint.id().to_string(),
        "http": http_addr.to_string(),
    }));

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        match command(&proxy, device, &line).await {
            Ok(event) => emit(event),
            Err(err) => emit(json!({ "event": "error", "command": line, "error": err.to_string() })),
        }
    }
    endpoint.close().await;
    Ok(())
}

async fn command(proxy: &DownstreamProxy, device: EndpointId, line: &str) -> Result<Value, Error> {
    let cmd: Value = serde_json::from_str(line)?;
    match cmd["op"].as_str() {
        Some("tcp") => {
            let authority_text = cmd["authority"].as_str().ok_or("tcp: authority missing")?;
            let authority = Authority::from_str(authority_text).map_err(|e| e.to_string())?;
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let listen = listener.local_addr()?;
            let proxy = proxy.clone();
            let mode = ProxyMode::Tcp(EndpointAuthority::new(device, authority));
            tokio::spawn(async move {
                if let Err(err) = proxy.forward_tcp_listener(listener, mode).await {
                    eprintln!("interop-peer: tcp listener ended: {err:#}");
                }
            });
            Ok(json!({ "event": "tcp", "authority": authority_text, "listen": listen.to_string() }))
        }
        Some("connect") => {
            let authority_text = cmd["authority"].as_str().ok_or("connect: authority missing")?;
            let authority = Authority::from_str(authority_text).map_err(|e| e.to_string())?;
            let send_bytes = unhex(cmd["sendHex"].as_str().unwrap_or(""))?;
            let destination = EndpointAuthority::new(device, authority);
            match proxy.create_tunnel(&destination).await {
                Err(err) => Ok(json!({
                    "event": "connect",
                    "authority": authority_text,
                    "status": err.response_status().map(|s| s.as_u16()),
                    "error": format!("{err:#}"),
                    "receivedHex": "",
                })),
                Ok(mut tunnel) => {
                    tunnel.send.write_all(&send_bytes).await?;
                    tunnel.send.finish()?;
                    let mut received = Vec::new();
                    let read = tunnel.recv.read_to_end(&mut received).await;
                    Ok(json!({
                        "event": "connect",
                        "authority": authority_text,
                        "status": 200,
                        "error": read.err().map(|e| e.to_string()),
                        "receivedHex": hex(&received),
                    }))
                }
            }
        }
        other => Err(format!("unknown op {other:?}").into()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Result<Vec<u8>, Error> {
    if text.len() % 2 != 0 {
        return Err("sendHex: odd length".into());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(Into::into))
        .collect()
}
