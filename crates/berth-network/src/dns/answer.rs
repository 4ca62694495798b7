//! One query in, one decision out: the bytes of a local answer, a query to forward,
//! or nothing. Messages are parsed and emitted with hickory-proto; no I/O.

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};

use super::table::{Kind, Local};

/// Docker's TTL for the names it answers.
pub const TTL: u32 = 600;

/// The largest UDP answer this server sends, and the payload size it advertises in
/// EDNS (the DNS flag day's value, which fits every path MTU).
const UDP_MAX: u16 = 1232;

/// The size of a DNS header: anything shorter carries no id to answer to.
const HEADER_LEN: usize = 12;

/// What to do with a query.
#[derive(Debug, PartialEq, Eq)]
pub enum Handling {
    /// Send these bytes back.
    Answer(Vec<u8>),
    /// Not a local name: forward the query as it came. `max_udp` is the largest
    /// answer the client takes over UDP; `servfail` is the answer when no upstream
    /// gives one.
    Forward { max_udp: u16, servfail: Vec<u8> },
    /// Not a query worth an answer (a response, or too short to carry an id).
    Drop,
}

/// Decides how to answer `query` (as received, over TCP when `tcp`) with `lookup`,
/// which gives the table's answer for a name and the kind of record asked.
pub fn handle(query: &[u8], tcp: bool, lookup: impl FnOnce(&str, Kind) -> Local) -> Handling {
    let Some(&[id_hi, id_lo, flags, ..]) = query.get(..HEADER_LEN) else {
        return Handling::Drop;
    };
    // Never answer a response: two resolvers would bounce a message forever.
    if flags & 0x80 != 0 {
        return Handling::Drop;
    }
    let id = u16::from_be_bytes([id_hi, id_lo]);
    let op_code = OpCode::from_u8((flags >> 3) & 0x0f);
    let Ok(request) = Message::from_vec(query) else {
        return error(id, op_code, ResponseCode::FormErr);
    };
    if request.op_code != OpCode::Query {
        return error(id, op_code, ResponseCode::NotImp);
    }
    let [question] = request.queries.as_slice() else {
        return error(id, op_code, ResponseCode::FormErr);
    };
    let max_udp = request.max_payload();
    let limit = if tcp {
        usize::from(u16::MAX)
    } else {
        usize::from(max_udp.min(UDP_MAX))
    };
    let local = if question.query_class() == DNSClass::IN {
        let kind = match question.query_type() {
            RecordType::A => Kind::A,
            RecordType::AAAA => Kind::Aaaa,
            RecordType::PTR => Kind::Ptr,
            _ => Kind::Other,
        };
        lookup(&question.name().to_ascii(), kind)
    } else {
        Local::Unknown
    };
    let mut response = reply_to(&request, question);
    match local {
        Local::Unknown => {
            response.metadata.response_code = ResponseCode::ServFail;
            match response.to_vec() {
                Ok(servfail) => Handling::Forward { max_udp, servfail },
                Err(_) => Handling::Drop,
            }
        }
        Local::Addrs(addrs) => {
            for ip in addrs {
                let data = match ip {
                    IpAddr::V4(a) => RData::A(A(a)),
                    IpAddr::V6(a) => RData::AAAA(AAAA(a)),
                };
                response.add_answer(hickory_proto::rr::Record::from_rdata(
                    question.name().clone(),
                    TTL,
                    data,
                ));
            }
            encode(&response, limit)
        }
        Local::Names(names) => {
            for n in names {
                // A name the table holds but DNS cannot carry is left out.
                if let Ok(target) = Name::from_ascii(format!("{n}.")) {
                    response.add_answer(hickory_proto::rr::Record::from_rdata(
                        question.name().clone(),
                        TTL,
                        RData::PTR(PTR(target)),
                    ));
                }
            }
            encode(&response, limit)
        }
    }
}

/// The response skeleton: the question echoed, RD/CD copied, recursion available (the
/// upstreams recurse), and an OPT record when the query had one (RFC 6891).
fn reply_to(request: &Message, question: &Query) -> Message {
    let mut response = Message::response(request.id, OpCode::Query);
    response.metadata.recursion_desired = request.recursion_desired;
    response.metadata.checking_disabled = request.checking_disabled;
    response.metadata.recursion_available = true;
    response.add_query(question.clone());
    if request.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(UDP_MAX);
        response.set_edns(edns);
    }
    response
}

/// The answer's bytes; over `limit`, the question alone with TC set, so the client
/// asks again over TCP.
fn encode(response: &Message, limit: usize) -> Handling {
    match response.to_vec() {
        Ok(bytes) if bytes.len() <= limit => Handling::Answer(bytes),
        Ok(_) => match response.truncate().to_vec() {
            Ok(bytes) => Handling::Answer(bytes),
            Err(_) => Handling::Drop,
        },
        Err(_) => Handling::Drop,
    }
}

/// A bare error answer, for queries that do not parse or that this server does not
/// do.
fn error(id: u16, op_code: OpCode, code: ResponseCode) -> Handling {
    match Message::error_msg(id, op_code, code).to_vec() {
        Ok(bytes) => Handling::Answer(bytes),
        Err(_) => Handling::Drop,
    }
}

/// The id and QR bit of a DNS message, if it is long enough to have them.
pub fn id_and_is_response(msg: &[u8]) -> Option<(u16, bool)> {
    match msg.get(..HEADER_LEN) {
        Some(&[hi, lo, flags, ..]) => Some((u16::from_be_bytes([hi, lo]), flags & 0x80 != 0)),
        _ => None,
    }
}

/// Whether a response has the TC (truncated) bit.
pub fn is_truncated(msg: &[u8]) -> bool {
    msg.get(2).is_some_and(|flags| flags & 0x02 != 0)
}

/// Overwrites a message's id.
pub fn set_id(msg: &mut [u8], id: u16) {
    if let Some(head) = msg.get_mut(..2) {
        head.copy_from_slice(&id.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::MessageType;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn query(name: &str, rtype: RecordType) -> Message {
        let mut q = Message::new(0x1234, MessageType::Query, OpCode::Query);
        q.metadata.recursion_desired = true;
        q.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
        q
    }

    fn answer(h: Handling) -> Message {
        match h {
            Handling::Answer(bytes) => Message::from_vec(&bytes).unwrap(),
            other => panic!("not an answer: {other:?}"),
        }
    }

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse::<Ipv4Addr>().unwrap())
    }

    #[test]
    fn local_addresses_are_answered_with_ttl_600() {
        let q = query("Web.", RecordType::A).to_vec().unwrap();
        let mut asked = None;
        let r = answer(handle(&q, false, |name, kind| {
            asked = Some((name.to_owned(), kind));
            Local::Addrs(vec![v4("10.1.0.2"), v4("10.2.0.2")])
        }));
        assert_eq!(asked, Some(("Web.".to_owned(), Kind::A)));
        assert_eq!(r.id, 0x1234);
        assert_eq!(r.message_type, MessageType::Response);
        assert_eq!(r.response_code, ResponseCode::NoError);
        assert!(r.recursion_desired && r.recursion_available);
        assert_eq!(r.queries, query("Web.", RecordType::A).queries);
        let got: Vec<_> = r.answers.iter().map(|a| (a.ttl, a.data.clone())).collect();
        assert_eq!(
            got,
            vec![
                (600, RData::A(A("10.1.0.2".parse().unwrap()))),
                (600, RData::A(A("10.2.0.2".parse().unwrap()))),
            ]
        );
        assert_eq!(r.answers[0].name.to_ascii(), "Web.");
        // Display touches hickory-proto's lazy statics: this links only with
        // once_cell's std feature on (see the root Cargo.toml).
        assert!(r.to_string().contains("10.2.0.2"), "{r}");

        let q = query("db.", RecordType::AAAA).to_vec().unwrap();
        let six: Ipv6Addr = "fd00::3".parse().unwrap();
        let r = answer(handle(&q, false, |_, kind| {
            assert_eq!(kind, Kind::Aaaa);
            Local::Addrs(vec![IpAddr::V6(six)])
        }));
        assert_eq!(r.answers[0].data, RData::AAAA(AAAA(six)));
    }

    #[test]
    fn a_known_name_without_addresses_is_noerror_empty() {
        let q = query("web.", RecordType::MX).to_vec().unwrap();
        let r = answer(handle(&q, false, |_, kind| {
            assert_eq!(kind, Kind::Other);
            Local::Addrs(vec![])
        }));
        assert_eq!(r.response_code, ResponseCode::NoError);
        assert!(r.answers.is_empty());
    }

    #[test]
    fn reverse_answers_name_the_container() {
        let q = query("2.0.1.10.in-addr.arpa.", RecordType::PTR)
            .to_vec()
            .unwrap();
        let r = answer(handle(&q, false, |name, kind| {
            assert_eq!((name, kind), ("2.0.1.10.in-addr.arpa.", Kind::Ptr));
            Local::Names(vec!["web".into(), "bad..name".into()])
        }));
        assert_eq!(r.answers.len(), 1);
        assert_eq!(
            r.answers[0].data,
            RData::PTR(PTR(Name::from_ascii("web.").unwrap()))
        );
    }

    #[test]
    fn unknown_names_are_forwarded_with_a_servfail_ready() {
        let mut q = query("example.org.", RecordType::A);
        q.set_edns(Edns::new().set_max_payload(4096).clone());
        let h = handle(&q.to_vec().unwrap(), false, |_, _| Local::Unknown);
        let Handling::Forward { max_udp, servfail } = h else {
            panic!("not forwarded: {h:?}");
        };
        assert_eq!(max_udp, 4096);
        let s = Message::from_vec(&servfail).unwrap();
        assert_eq!((s.id, s.response_code), (0x1234, ResponseCode::ServFail));
        assert_eq!(s.queries, q.queries);
        assert!(s.edns.is_some());
        // Other classes are never local.
        let mut q = query("web.", RecordType::A);
        q.queries[0].query_class = DNSClass::CH;
        let h = handle(&q.to_vec().unwrap(), false, |_, _| Local::Addrs(vec![]));
        assert!(matches!(h, Handling::Forward { max_udp: 512, .. }), "{h:?}");
    }

    #[test]
    fn big_answers_are_truncated_over_udp_only() {
        let many: Vec<IpAddr> = (0..100u8)
            .map(|i| IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)))
            .collect();
        let q = query("svc.", RecordType::A).to_vec().unwrap();
        let r = answer(handle(&q, false, |_, _| Local::Addrs(many.clone())));
        assert!(r.truncation);
        assert!(r.answers.is_empty());
        let r = answer(handle(&q, true, |_, _| Local::Addrs(many.clone())));
        assert!(!r.truncation);
        assert_eq!(r.answers.len(), 100);
    }

    #[test]
    fn malformed_queries_get_formerr_or_nothing() {
        let never = |_: &str, _: Kind| -> Local { panic!("looked up a malformed query") };
        assert_eq!(handle(&[], false, never), Handling::Drop);
        assert_eq!(handle(&[1, 2, 3], false, never), Handling::Drop);
        // Twelve bytes claiming a question that is not there.
        let r = answer(handle(
            &[0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0],
            false,
            never,
        ));
        assert_eq!((r.id, r.response_code), (0xabcd, ResponseCode::FormErr));
        assert_eq!(r.message_type, MessageType::Response);
        // No question, or two.
        let mut q = query("web.", RecordType::A);
        q.queries.clear();
        let r = answer(handle(&q.to_vec().unwrap(), false, never));
        assert_eq!(r.response_code, ResponseCode::FormErr);
        let mut q = query("web.", RecordType::A);
        q.add_query(Query::query(
            Name::from_ascii("db.").unwrap(),
            RecordType::A,
        ));
        let r = answer(handle(&q.to_vec().unwrap(), false, never));
        assert_eq!(r.response_code, ResponseCode::FormErr);
        // Other opcodes are not done here.
        let mut q = query("web.", RecordType::A);
        q.metadata.op_code = OpCode::Update;
        let r = answer(handle(&q.to_vec().unwrap(), false, never));
        assert_eq!(r.response_code, ResponseCode::NotImp);
        // Responses are never answered.
        let r = query("web.", RecordType::A).into_response();
        assert_eq!(handle(&r.to_vec().unwrap(), false, never), Handling::Drop);
        // Arbitrary bytes never panic.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..600 {
            let bytes: Vec<u8> = (0..len % 97)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed >> 24) as u8
                })
                .collect();
            let _ = handle(&bytes, len % 2 == 0, |_, _| Local::Unknown);
        }
    }

    #[test]
    fn header_helpers() {
        let mut m = query("web.", RecordType::A).to_vec().unwrap();
        assert_eq!(id_and_is_response(&m), Some((0x1234, false)));
        set_id(&mut m, 7);
        assert_eq!(id_and_is_response(&m), Some((7, false)));
        assert!(!is_truncated(&m));
        let mut r = query("web.", RecordType::A).into_response();
        r.metadata.truncation = true;
        let r = r.to_vec().unwrap();
        assert_eq!(id_and_is_response(&r), Some((0x1234, true)));
        assert!(is_truncated(&r));
        assert_eq!(id_and_is_response(&[1]), None);
    }
}
