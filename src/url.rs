//! The API URL: parsing, checking and normalizing `--api-url`, `TORALE_API_URL` and the config
//! file's `api_url`, in one place. Host and port come from `http::Uri`, never from hand
//! splitting.

use std::net::IpAddr;

use http::Uri;

/// A checked API base URL: `http` or `https`, a host, a port in 1–65535, no user info, no
/// query or fragment, no trailing `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiUrl {
    /// The normalized text, to which request paths are appended: scheme and host in lower
    /// case, no trailing `/`.
    pub text: String,
    pub https: bool,
    /// Whether the host is this machine: `localhost`, `*.localhost` (RFC 6761), 127.0.0.0/8
    /// or `::1`. A key sent over plain http to such a host never crosses a network.
    pub loopback: bool,
}

/// Check an API URL and normalize it; the error is the reason only, to follow
/// `Invalid API URL '<url>': ` (quote the URL with [`redacted`], never as given).
pub fn parse_api_url(text: &str) -> Result<ApiUrl, String> {
    let text = text.trim();
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a URL cannot contain spaces or control characters".into());
    }
    let (scheme, rest) = text.split_once("://").unwrap_or_default();
    let scheme = scheme.to_ascii_lowercase();
    let https = match scheme.as_str() {
        "https" => true,
        "http" => false,
        _ => return Err("it must start with http:// or https://".into()),
    };
    let uri: Uri = text.parse().map_err(|err| format!("not a valid URL ({err})"))?;
    let authority = uri.authority().ok_or("it has no host")?;
    if authority.as_str().contains('@') {
        return Err("user info (name:password@) is not allowed in the API URL; \
             pass the API key with --api-key-file or TORALE_API_KEY instead"
            .into());
    }
    if authority.host().is_empty() {
        return Err("it has no host".into());
    }
    // `Authority::port` is `None` for a port that is not a u16 (`:99999`, `:8O80`), so the
    // text after the host is checked here.
    let port_text =
        authority.as_str().strip_prefix(authority.host()).and_then(|rest| rest.strip_prefix(':'));
    let port = match port_text {
        None => String::new(),
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port >= 1 && text.bytes().all(|b| b.is_ascii_digit()) => format!(":{port}"),
            _ => return Err("port must be 1–65535".into()),
        },
    };
    if uri.query().is_some() || rest.contains('#') {
        return Err("an API URL has no query or fragment (no '?' or '#')".into());
    }
    let host = authority.host().to_ascii_lowercase();
    let path = uri.path().trim_end_matches('/');
    let text = format!("{scheme}://{host}{port}{path}");
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare == "localhost"
        || bare.ends_with(".localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    Ok(ApiUrl { text, https, loopback })
}

/// `text` safe to quote in a message: any user info before the host (`name:password@`) is
/// shown as `***@`, so a password typed into a URL is never printed.
pub fn redacted(text: &str) -> String {
    let text = crate::error::mask_key_shapes(text);
    let Some((scheme, rest)) = text.split_once("://") else { return text };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalized() {
        let url = parse_api_url(" HTTP://API.Example.COM:08080/base// ").unwrap();
        assert_eq!((url.text.as_str(), url.https), ("http://api.example.com:8080/base", false));
        let url = parse_api_url("https://api.torale.ai/").unwrap();
        assert_eq!((url.text.as_str(), url.https), ("https://api.torale.ai", true));
        assert_eq!(parse_api_url("http://[::1]:9").unwrap().text, "http://[::1]:9");
    }

    #[test]
    fn malformed_urls_are_refused() {
        for url in
            ["http://127.0.0.1:99999", "http://h:0", "http://h:8O80", "http://h:-1", "http://h:"]
        {
            assert_eq!(parse_api_url(url), Err("port must be 1–65535".into()), "{url}");
        }
        for url in
            ["ftp://h", "api.torale.ai", "https://", "http:///p", "http://h?x=1", "http://h/#t"]
        {
            assert!(parse_api_url(url).is_err(), "{url}");
        }
        assert!(parse_api_url("https://@host/").unwrap_err().starts_with("user info"));
        assert_eq!(redacted("http://user:pw@host/x"), "http://***@host/x");
        assert_eq!(redacted("http://host/a@b"), "http://host/a@b");
    }

    #[test]
    fn loopback_hosts() {
        for url in
            ["http://LOCALHOST", "http://api.localhost", "http://127.1.2.3:5", "http://[::1]"]
        {
            assert!(parse_api_url(url).unwrap().loopback, "{url}");
        }
        for url in ["http://example.com", "http://localhost.example.com", "http://[::2]"] {
            assert!(!parse_api_url(url).unwrap().loopback, "{url}");
        }
    }
}
