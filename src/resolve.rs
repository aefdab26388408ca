//! Host-name resolution that works in an empty container image.
//!
//! IP literals and `localhost` (RFC 6761: `localhost` and `*.localhost` are loopback) are
//! answered here, never by a lookup. Other names go to the C library's resolver, except in a
//! statically linked glibc build: glibc resolves names through NSS modules it loads at run time,
//! which an image holding only `torale` does not have. There the small stub resolver below
//! reads `/etc/hosts`, then asks the name servers of `/etc/resolv.conf` over UDP (with its
//! `search`, `ndots`, `timeout` and `attempts`), A records first, then AAAA.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// The resolver the API client's agent uses (see the module documentation).
#[derive(Debug, Default)]
pub struct HostResolver;

impl Resolver for HostResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let bad = || ureq::Error::BadUri(format!("no host and port in {uri}"));
        let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(bad)?;
        let port = match (uri.port_u16(), uri.scheme_str()) {
            (Some(port), _) => port,
            (None, Some("http")) => 80,
            (None, Some("https")) => 443,
            _ => return Err(bad()),
        };
        let ips = match fixed_addresses(host) {
            Some(ips) => ips,
            None => lookup(uri, host, config, timeout)?,
        };
        let mut out = self.empty();
        let wanted = ips.into_iter().map(|ip| SocketAddr::new(ip, port));
        for addr in config.ip_family().keep_wanted(wanted) {
            if out.try_push(addr).is_err() {
                break;
            }
        }
        if out.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(out)
    }
}

/// The addresses of an IP literal (`[::1]` included) or of a `localhost` name; `None` for any
/// other name, which needs a lookup.
pub fn fixed_addresses(host: &str) -> Option<Vec<IpAddr>> {
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Some(vec![ip]);
    }
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return Some(vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]);
    }
    None
}

/// A name that is neither a literal nor `localhost`: the C library's resolver.
#[cfg(not(all(target_os = "linux", target_env = "gnu", target_feature = "crt-static")))]
fn lookup(
    uri: &Uri,
    _host: &str,
    config: &Config,
    timeout: NextTimeout,
) -> Result<Vec<IpAddr>, ureq::Error> {
    let found =
        ureq::unversioned::resolver::DefaultResolver::default().resolve(uri, config, timeout)?;
    Ok(found.iter().map(SocketAddr::ip).collect())
}

/// A name that is neither a literal nor `localhost`, in a static glibc build: `/etc/hosts`,
/// then DNS.
#[cfg(all(target_os = "linux", target_env = "gnu", target_feature = "crt-static"))]
fn lookup(
    _uri: &Uri,
    host: &str,
    _config: &Config,
    timeout: NextTimeout,
) -> Result<Vec<IpAddr>, ureq::Error> {
    let read = |path| std::fs::read_to_string(path).unwrap_or_default();
    let from_hosts = hosts_lookup(&read("/etc/hosts"), host);
    if !from_hosts.is_empty() {
        return Ok(from_hosts);
    }
    let deadline = Instant::now().checked_add(*timeout.after);
    match dns_lookup(
        host,
        &parse_resolv_conf(&read("/etc/resolv.conf")),
        deadline,
    ) {
        Ok(ips) => Ok(ips),
        Err(LookupError::NotFound) => Err(ureq::Error::HostNotFound),
        Err(LookupError::TimedOut) => Err(ureq::Error::Timeout(timeout.reason)),
    }
}

// ---- /etc/hosts and /etc/resolv.conf ---------------------------------------------------------

/// The addresses `/etc/hosts` (its text) gives `name`, in file order.
pub fn hosts_lookup(text: &str, name: &str) -> Vec<IpAddr> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let mut found = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let Some(Ok(ip)) = fields.next().map(|f| f.parse::<IpAddr>()) else {
            continue;
        };
        if fields.any(|alias| alias.eq_ignore_ascii_case(name)) && !found.contains(&ip) {
            found.push(ip);
        }
    }
    found
}

/// What `/etc/resolv.conf` says, with the C libraries' defaults for what it leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvConf {
    /// At most three, port 53; `127.0.0.1` when the file names none.
    pub nameservers: Vec<SocketAddr>,
    pub search: Vec<String>,
    pub ndots: usize,
    /// How long to wait for each answer.
    pub timeout: Duration,
    /// Rounds over all name servers.
    pub attempts: u32,
}

/// Parses resolv.conf text; unknown or malformed lines are skipped, never an error.
pub fn parse_resolv_conf(text: &str) -> ResolvConf {
    let mut conf = ResolvConf {
        nameservers: Vec::new(),
        search: Vec::new(),
        ndots: 1,
        timeout: Duration::from_secs(5),
        attempts: 2,
    };
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("nameserver") => {
                let ip = fields.next().and_then(|f| f.parse::<IpAddr>().ok());
                if let (Some(ip), true) = (ip, conf.nameservers.len() < 3) {
                    conf.nameservers.push(SocketAddr::new(ip, 53));
                }
            }
            Some("search") => conf.search = fields.map(|d| d.to_ascii_lowercase()).collect(),
            Some("domain") => conf.search = fields.take(1).map(str::to_ascii_lowercase).collect(),
            Some("options") => {
                for option in fields {
                    let Some((key, value)) = option.split_once(':') else {
                        continue;
                    };
                    let Ok(n) = value.parse::<u32>() else {
                        continue;
                    };
                    match key {
                        "ndots" => conf.ndots = n.min(15) as usize,
                        "timeout" => conf.timeout = Duration::from_secs(n.clamp(1, 30).into()),
                        "attempts" => conf.attempts = n.clamp(1, 5),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if conf.nameservers.is_empty() {
        conf.nameservers
            .push(SocketAddr::from((Ipv4Addr::LOCALHOST, 53)));
    }
    conf
}

/// The names to ask for, in order: a name with a trailing dot is asked for as it is; one with at
/// least `ndots` dots before the search domains, any other after them.
pub fn search_names(name: &str, conf: &ResolvConf) -> Vec<String> {
    if let Some(absolute) = name.strip_suffix('.') {
        return vec![absolute.to_string()];
    }
    let searched = conf
        .search
        .iter()
        .map(|domain| format!("{name}.{}", domain.trim_end_matches('.')));
    if name.matches('.').count() >= conf.ndots {
        std::iter::once(name.to_string()).chain(searched).collect()
    } else {
        searched.chain(std::iter::once(name.to_string())).collect()
    }
}

// ---- DNS ------------------------------------------------------------------------------------

pub const TYPE_A: u16 = 1;
pub const TYPE_AAAA: u16 = 28;
/// The UDP payload size offered through EDNS(0), so that answers are not truncated at 512 bytes.
const UDP_PAYLOAD: u16 = 1232;

/// Why a DNS lookup found nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupError {
    /// No name server knows the name (or has an address of it), or none could be reached.
    NotFound,
    /// The name servers were silent until the deadline.
    TimedOut,
}

/// A name server's answer to one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The addresses in the answer section (empty: the name exists without such records).
    Addresses(Vec<IpAddr>),
    /// NXDOMAIN: the name does not exist.
    NoSuchName,
    /// SERVFAIL, REFUSED or another failure: ask the next server.
    Failed,
}

/// A recursive query for `name` and `qtype` (class IN) with an EDNS(0) record; `None` when
/// `name` cannot be a DNS name.
pub fn query_packet(id: u16, name: &str, qtype: u16) -> Option<Vec<u8>> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return None;
    }
    let mut packet = Vec::with_capacity(name.len() + 29);
    packet.extend_from_slice(&id.to_be_bytes());
    // Flags: recursion desired. One question, one additional record (OPT).
    packet.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.push(0);
    packet.extend_from_slice(&qtype.to_be_bytes());
    packet.extend_from_slice(&[0, 1]);
    // OPT: root name, type 41, class = payload size, TTL 0, no options.
    packet.extend_from_slice(&[0, 0, 41]);
    packet.extend_from_slice(&UDP_PAYLOAD.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    Some(packet)
}

/// Decodes a reply to the query with this `id`; `None` when the packet is not one (wrong ID, not
/// a response, malformed header), so that it is ignored. A truncated or malformed answer
/// section yields the addresses decoded before the damage.
pub fn parse_reply(packet: &[u8], id: u16) -> Option<Answer> {
    let header = packet.get(..12)?;
    let is_response = header[2] & 0x80 != 0;
    let opcode = (header[2] >> 3) & 0x0f;
    if u16::from_be_bytes([header[0], header[1]]) != id || !is_response || opcode != 0 {
        return None;
    }
    match header[3] & 0x0f {
        0 => {}
        3 => return Some(Answer::NoSuchName),
        _ => return Some(Answer::Failed),
    }
    let questions = u16::from_be_bytes([header[4], header[5]]);
    let answers = u16::from_be_bytes([header[6], header[7]]);
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(packet, at)? + 4;
    }
    let mut found = Vec::new();
    for _ in 0..answers {
        let Some(fixed) = skip_name(packet, at) else {
            break;
        };
        let Some(record) = packet.get(fixed..fixed + 10) else {
            break;
        };
        let rtype = u16::from_be_bytes([record[0], record[1]]);
        let class = u16::from_be_bytes([record[2], record[3]]);
        let len = usize::from(u16::from_be_bytes([record[8], record[9]]));
        let Some(data) = packet.get(fixed + 10..fixed + 10 + len) else {
            break;
        };
        let ip = match (rtype, class, data.len()) {
            (TYPE_A, 1, 4) => <[u8; 4]>::try_from(data).ok().map(IpAddr::from),
            (TYPE_AAAA, 1, 16) => <[u8; 16]>::try_from(data).ok().map(IpAddr::from),
            _ => None,
        };
        found.extend(ip.filter(|ip| !found.contains(ip)));
        at = fixed + 10 + len;
    }
    Some(Answer::Addresses(found))
}

/// The offset just past the (possibly compressed) name at `at`.
fn skip_name(packet: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *packet.get(at)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Some(at + 1),
            0x00 => at += 1 + usize::from(len),
            // A compression pointer ends the name.
            0xc0 => return packet.get(at + 1).map(|_| at + 2),
            _ => return None,
        }
    }
}

/// Looks `name` up over DNS as the C libraries do: each search name in turn, each question
/// (A, then AAAA) to each name server in turn for `attempts` rounds, until `deadline`. Servers
/// that stay silent end the lookup rather than being asked about the next search name.
pub fn dns_lookup(
    name: &str,
    conf: &ResolvConf,
    deadline: Option<Instant>,
) -> Result<Vec<IpAddr>, LookupError> {
    for candidate in search_names(name, conf) {
        let mut found = Vec::new();
        for qtype in [TYPE_A, TYPE_AAAA] {
            match ask(&candidate, qtype, conf, deadline) {
                Ok(Answer::Addresses(ips)) => found.extend(ips),
                Ok(Answer::NoSuchName) => break,
                Ok(Answer::Failed) => {}
                Err(e) if found.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Err(LookupError::NotFound)
}

/// One question to the name servers until one gives a definite answer. `Failed` when the
/// servers answered with failures or could not be reached; `TimedOut` when they were silent.
fn ask(
    name: &str,
    qtype: u16,
    conf: &ResolvConf,
    deadline: Option<Instant>,
) -> Result<Answer, LookupError> {
    let id = random_id();
    let Some(query) = query_packet(id, name, qtype) else {
        return Ok(Answer::NoSuchName);
    };
    let (mut silent, mut failed) = (false, false);
    for _ in 0..conf.attempts {
        for &server in &conf.nameservers {
            let mut wait = conf.timeout;
            if let Some(deadline) = deadline {
                wait = wait.min(deadline.saturating_duration_since(Instant::now()));
            }
            if wait.is_zero() {
                return Err(LookupError::TimedOut);
            }
            match exchange(server, &query, id, wait) {
                Ok(Some(Answer::Failed)) => failed = true,
                Ok(Some(answer)) => return Ok(answer),
                Ok(None) => silent = true,
                // Unreachable (ICMP port unreachable, no route): the next server.
                Err(_) => {}
            }
        }
    }
    if silent && !failed {
        Err(LookupError::TimedOut)
    } else {
        Ok(Answer::Failed)
    }
}

/// Sends one query and waits up to `wait` for its reply; `Ok(None)` when none came.
fn exchange(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    wait: Duration,
) -> io::Result<Option<Answer>> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)?;
    // Connected: the kernel drops datagrams from any other address.
    socket.connect(server)?;
    socket.send(query)?;
    let until = Instant::now() + wait;
    let mut buf = [0u8; UDP_PAYLOAD as usize];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        socket.set_read_timeout(Some(left))?;
        match socket.recv(&mut buf) {
            Ok(n) => {
                if let Some(answer) = parse_reply(&buf[..n], id) {
                    return Ok(Some(answer));
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        }
    }
}

/// An unpredictable query ID (std's hasher keys are drawn from the OS's random source).
fn random_id() -> u16 {
    RandomState::new().hash_one(std::time::SystemTime::now()) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    #[test]
    fn literals_and_localhost_need_no_lookup() {
        assert_eq!(fixed_addresses("10.1.2.3"), Some(vec![v4(10, 1, 2, 3)]));
        assert_eq!(
            fixed_addresses("[::1]"),
            Some(vec![IpAddr::V6(Ipv6Addr::LOCALHOST)])
        );
        let loopback = Some(vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]);
        for name in ["localhost", "LocalHost.", "api.localhost"] {
            assert_eq!(fixed_addresses(name), loopback, "{name}");
        }
        for name in [
            "localhost.example.com",
            "example.com",
            "[::1",
            "notlocalhost",
            "",
        ] {
            assert_eq!(fixed_addresses(name), None, "{name}");
        }
    }

    #[test]
    fn resolver_answers_literals_and_localhost_with_the_port() {
        let resolve = |url: &str| {
            let uri: Uri = url.parse().expect("test URL");
            HostResolver.resolve(&uri, &Config::default(), NextTimeout::default())
        };
        let addrs = resolve("http://localhost:8123/x").expect("localhost");
        let got: Vec<SocketAddr> = addrs.iter().copied().collect();
        assert_eq!(
            got,
            vec![
                SocketAddr::from((Ipv4Addr::LOCALHOST, 8123)),
                SocketAddr::from((Ipv6Addr::LOCALHOST, 8123)),
            ]
        );
        let addrs = resolve("https://[::1]/").expect("literal");
        assert_eq!(
            addrs.iter().copied().collect::<Vec<_>>(),
            vec![SocketAddr::from((Ipv6Addr::LOCALHOST, 443))]
        );
        let addrs = resolve("http://127.0.0.2/").expect("literal");
        assert_eq!(
            addrs.iter().copied().collect::<Vec<_>>(),
            vec![SocketAddr::from(([127, 0, 0, 2], 80))]
        );
        assert!(matches!(resolve("/relative"), Err(ureq::Error::BadUri(_))));
    }

    #[test]
    fn hosts_file() {
        let text = "# comment\n127.0.0.1\tlocalhost\n::1 localhost ip6-localhost\n\
                    10.0.0.5  api.internal  API # trailing comment\n\
                    not-an-ip api.internal\n10.0.0.6 other\n10.0.0.7 api.internal\n\n   \n";
        assert_eq!(
            hosts_lookup(text, "api.internal"),
            vec![v4(10, 0, 0, 5), v4(10, 0, 0, 7)]
        );
        assert_eq!(hosts_lookup(text, "API."), vec![v4(10, 0, 0, 5)]);
        assert!(hosts_lookup(text, "comment").is_empty());
        assert!(hosts_lookup(text, "missing").is_empty());
        assert!(hosts_lookup("", "localhost").is_empty());
    }

    #[test]
    fn resolv_conf() {
        let text = "# generated\nnameserver 10.96.0.10\nnameserver fe80::1%eth0\n\
                    nameserver ::1 ; comment\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n\
                    search NS.svc.cluster.local svc.cluster.local\n\
                    options ndots:5 timeout:2 attempts:9 rotate edns0 ndots:x\n";
        let conf = parse_resolv_conf(text);
        assert_eq!(
            conf.nameservers,
            vec![
                SocketAddr::from(([10, 96, 0, 10], 53)),
                SocketAddr::from((Ipv6Addr::LOCALHOST, 53)),
                SocketAddr::from(([1, 1, 1, 1], 53)),
            ]
        );
        assert_eq!(
            conf.search,
            vec!["ns.svc.cluster.local", "svc.cluster.local"]
        );
        assert_eq!(conf.ndots, 5);
        assert_eq!(conf.timeout, Duration::from_secs(2));
        assert_eq!(conf.attempts, 5);

        let empty = parse_resolv_conf("garbage\nnameserver\noptions\n\u{0}\n");
        assert_eq!(
            empty.nameservers,
            vec![SocketAddr::from(([127, 0, 0, 1], 53))]
        );
        assert_eq!((empty.ndots, empty.attempts), (1, 2));
        assert_eq!(
            parse_resolv_conf("domain corp.example\n").search,
            vec!["corp.example"]
        );
    }

    #[test]
    fn search_order_follows_ndots() {
        let conf = parse_resolv_conf("search a.example b.example\noptions ndots:2\n");
        assert_eq!(
            search_names("api", &conf),
            vec!["api.a.example", "api.b.example", "api"]
        );
        assert_eq!(
            search_names("api.torale.ai", &conf),
            vec![
                "api.torale.ai",
                "api.torale.ai.a.example",
                "api.torale.ai.b.example"
            ]
        );
        assert_eq!(search_names("api.", &conf), vec!["api"]);
    }

    #[test]
    fn query_encoding() {
        let packet = query_packet(0xabcd, "api.torale.ai.", TYPE_AAAA).expect("valid name");
        let mut want = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
        want.extend_from_slice(b"\x03api\x06torale\x02ai\x00\x00\x1c\x00\x01");
        want.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(packet, want);
        assert_eq!(query_packet(1, "", TYPE_A), None);
        assert_eq!(query_packet(1, "a..b", TYPE_A), None);
        assert_eq!(query_packet(1, &"x".repeat(64), TYPE_A), None);
        assert_eq!(query_packet(1, &["abc"; 70].join("."), TYPE_A), None);
    }

    /// A reply to `query` with the given rcode and answer records (name as a pointer to the
    /// question, which starts at offset 12).
    fn reply(query: &[u8], rcode: u8, records: &[(u16, &[u8])]) -> Vec<u8> {
        let question_end = skip_name(query, 12).expect("question") + 4;
        let mut packet = query[..question_end].to_vec();
        packet[2] |= 0x80;
        packet[3] = 0x80 | rcode;
        packet[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
        packet[10..12].copy_from_slice(&[0, 0]);
        for (rtype, data) in records {
            packet.extend_from_slice(&[0xc0, 12]);
            packet.extend_from_slice(&rtype.to_be_bytes());
            packet.extend_from_slice(&[0, 1, 0, 0, 1, 0]);
            packet.extend_from_slice(&(data.len() as u16).to_be_bytes());
            packet.extend_from_slice(data);
        }
        packet
    }

    #[test]
    fn reply_decoding() {
        let query = query_packet(7, "api.torale.ai", TYPE_A).expect("query");
        let cname: &[u8] = b"\x04edge\x03cdn\x03net\x00";
        let answer = reply(
            &query,
            0,
            &[
                (5, cname),
                (TYPE_A, &[192, 0, 2, 1]),
                (TYPE_A, &[192, 0, 2, 2]),
            ],
        );
        assert_eq!(
            parse_reply(&answer, 7),
            Some(Answer::Addresses(vec![v4(192, 0, 2, 1), v4(192, 0, 2, 2)]))
        );
        let six = reply(
            &query,
            0,
            &[(
                TYPE_AAAA,
                &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            )],
        );
        assert_eq!(
            parse_reply(&six, 7),
            Some(Answer::Addresses(vec!["2001:db8::1".parse().expect("ip")]))
        );
        // Wrong ID, a query instead of a reply, garbage: ignored.
        assert_eq!(parse_reply(&answer, 8), None);
        assert_eq!(parse_reply(&query, 7), None);
        assert_eq!(parse_reply(&[0, 7, 0x80], 7), None);
        assert_eq!(
            parse_reply(&reply(&query, 3, &[]), 7),
            Some(Answer::NoSuchName)
        );
        assert_eq!(parse_reply(&reply(&query, 2, &[]), 7), Some(Answer::Failed));
        assert_eq!(
            parse_reply(&reply(&query, 0, &[]), 7),
            Some(Answer::Addresses(vec![]))
        );
        // Cut anywhere, a reply never panics and keeps what was complete.
        for cut in 0..answer.len() {
            let _ = parse_reply(&answer[..cut], 7);
        }
        let cut = &answer[..answer.len() - 2];
        assert_eq!(
            parse_reply(cut, 7),
            Some(Answer::Addresses(vec![v4(192, 0, 2, 1)]))
        );
        // A wrong-sized A record and a bad label type are skipped or stop decoding.
        let odd = reply(&query, 0, &[(TYPE_A, &[1, 2, 3]), (TYPE_A, &[1, 2, 3, 4])]);
        assert_eq!(
            parse_reply(&odd, 7),
            Some(Answer::Addresses(vec![v4(1, 2, 3, 4)]))
        );
        let mut bad_label = answer.clone();
        bad_label[12] = 0x80;
        assert_eq!(parse_reply(&bad_label, 7), None);
    }

    /// A name server on 127.0.0.1 that answers each query through `answer`, or stays silent
    /// when it returns `None`; it stops after `count` queries.
    fn fake_dns(
        count: usize,
        answer: impl Fn(&[u8]) -> Option<Vec<u8>> + Send + 'static,
    ) -> (SocketAddr, thread::JoinHandle<Vec<Vec<u8>>>) {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = socket.local_addr().expect("addr");
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let handle = thread::spawn(move || {
            let mut seen = Vec::new();
            let mut buf = [0u8; 1500];
            while seen.len() < count {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    break;
                };
                let query = buf[..n].to_vec();
                if let Some(reply) = answer(&query) {
                    let _ = socket.send_to(&reply, from);
                }
                seen.push(query);
            }
            seen
        });
        (addr, handle)
    }

    fn conf_for(server: SocketAddr, extra: &str) -> ResolvConf {
        let mut conf = parse_resolv_conf(&format!("options timeout:1 attempts:1\n{extra}"));
        conf.nameservers = vec![server];
        conf
    }

    fn qtype_of(query: &[u8]) -> u16 {
        let end = skip_name(query, 12).expect("name");
        u16::from_be_bytes([query[end], query[end + 1]])
    }

    #[test]
    fn lookup_over_udp_asks_a_then_aaaa_and_follows_search() {
        let (server, handle) = fake_dns(3, |query| {
            let name_end = skip_name(query, 12)?;
            let name = &query[12..name_end];
            if name.starts_with(b"\x03api\x04corp") {
                return Some(reply(query, 3, &[]));
            }
            Some(match qtype_of(query) {
                TYPE_A => reply(query, 0, &[(TYPE_A, &[192, 0, 2, 7])]),
                _ => reply(
                    query,
                    0,
                    &[(
                        TYPE_AAAA,
                        &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7],
                    )],
                ),
            })
        });
        let conf = conf_for(server, "search corp\n");
        let found = dns_lookup("api", &conf, None).expect("found");
        assert_eq!(
            found,
            vec![v4(192, 0, 2, 7), "2001:db8::7".parse().expect("ip")]
        );
        let queries = handle.join().expect("server");
        // api.corp: NXDOMAIN on A ends that name; then api: A and AAAA.
        assert_eq!(queries.len(), 3);
        assert_eq!(
            queries.iter().map(|q| qtype_of(q)).collect::<Vec<_>>(),
            vec![TYPE_A, TYPE_A, TYPE_AAAA]
        );
    }

    #[test]
    fn unknown_name_and_silent_server() {
        let (server, handle) = fake_dns(1, |query| Some(reply(query, 3, &[])));
        let conf = conf_for(server, "");
        assert_eq!(
            dns_lookup("nowhere.example", &conf, None),
            Err(LookupError::NotFound)
        );
        assert_eq!(handle.join().expect("server").len(), 1);

        // Nothing listens: the port is unreachable, which is "not found", not a wait.
        let closed = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let conf = conf_for(closed.local_addr().expect("addr"), "");
        drop(closed);
        assert_eq!(
            dns_lookup("nowhere.example", &conf, None),
            Err(LookupError::NotFound)
        );

        let (server, _handle) = fake_dns(1, |_| None);
        let conf = conf_for(server, "");
        let started = Instant::now();
        let deadline = Some(started + Duration::from_millis(300));
        assert_eq!(
            dns_lookup("slow.example", &conf, deadline),
            Err(LookupError::TimedOut)
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn replies_with_a_wrong_id_are_ignored() {
        let (server, handle) = fake_dns(1, |query| {
            let mut forged = reply(query, 0, &[(TYPE_A, &[6, 6, 6, 6])]);
            forged[1] ^= 0xff;
            Some(forged)
        });
        let conf = conf_for(server, "");
        let deadline = Some(Instant::now() + Duration::from_millis(300));
        assert_eq!(
            dns_lookup("spoofed.example.", &conf, deadline),
            Err(LookupError::TimedOut)
        );
        assert_eq!(handle.join().expect("server").len(), 1);
    }
}
