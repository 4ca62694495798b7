//! HTTP/1.1 for the Engine API. The protocol itself (request heads, bodies, response
//! framing) is berth-http's; here are the headers every Engine API response carries
//! (`Api-Version`, `Ostype`, … which the docker CLI looks for) and errors as Docker's
//! `{"message": …}`.

use std::io::{self, Write};

pub use berth_http::{
    percent_decode, BodyError, BodyReader, Conn, Framing, HeadError, Query, QueryError, Request,
    Socket,
};

use crate::error::ApiError;

/// The headers every berth response starts with.
const ENGINE_HEADERS: [(&str, &str); 4] = [
    ("Api-Version", "1.41"),
    ("Docker-Experimental", "false"),
    ("Ostype", "linux"),
    (
        "Server",
        concat!("berth/", env!("CARGO_PKG_VERSION"), " (linux)"),
    ),
];

/// A response head with the headers every berth response carries.
pub fn head(
    status: u16,
    content_type: Option<&str>,
    framing: Framing,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    berth_http::head(status, &ENGINE_HEADERS, content_type, framing, extra)
}

/// Writes a whole response (head and body) in one write. With `head_only` (HEAD) the
/// body is left out but the length is still announced.
pub fn send(
    sock: &mut Socket,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    extra: &[(&str, &str)],
    head_only: bool,
) -> io::Result<()> {
    let mut out = head(
        status,
        content_type,
        Framing::Length(body.len() as u64),
        extra,
    );
    if !head_only && status != 204 && status != 304 {
        out.extend_from_slice(body);
    }
    sock.write_all(&out)
}

/// Writes an error response: `{"message": …}` (304 has no body; a HEAD response
/// announces the body's length but leaves it out).
pub fn send_error(sock: &mut Socket, err: &ApiError, head_only: bool) -> io::Result<()> {
    if err.status == 304 {
        return send(sock, 304, None, b"", &[], false);
    }
    let body = serde_json::to_vec(&berth_api_types::ErrorResponse::new(err.message.clone()))
        .unwrap_or_else(|_| b"{\"message\":\"internal error\"}".to_vec());
    let mut body = body;
    body.push(b'\n');
    send(
        sock,
        err.status,
        Some("application/json"),
        &body,
        &[],
        head_only,
    )
}

/// A chunked response body on a client connection.
pub type Chunked<'a> = berth_http::Chunked<'a, Socket>;

/// Sends the head of a chunked response and returns its body.
pub fn chunked<'a>(
    sock: &'a mut Socket,
    status: u16,
    content_type: &str,
    extra: &[(&str, &str)],
) -> io::Result<Chunked<'a>> {
    sock.write_all(&head(status, Some(content_type), Framing::Chunked, extra))?;
    Ok(Chunked::new(sock))
}
