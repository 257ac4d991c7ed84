//! Golden frames captured from a live Apache ZooKeeper 3.8.0 server (Debian package, standalone,
//! `zookeeper.extendedTypesEnabled=true`), decoded and re-encoded by `zabkeeper::wire`.
//!
//! The requests were encoded by an independent raw-socket Python probe (not by zabkeeper); the
//! replies are the server's bytes as read off the socket, length prefix removed. For every
//! exchange the request must decode to its opcode and re-encode to the identical bytes, and the
//! reply must decode (header, then the body the opcode implies when `err == 0`) and re-encode to
//! the identical bytes. This pins the codecs to ZooKeeper's real encoding of every client opcode
//! the server accepts (spec/wire.md; reference part A).

use zabkeeper::wire::client::*;
use zabkeeper::wire::jute::{JuteReader, JuteWriter, Record};

/// One request and the frame the server answered it with. `opcode` 0 marks a watch
/// notification the server sent on its own (no request).
struct LiveExchange {
    opcode: i32,
    request: &'static str,
    reply: &'static str,
}

/// The session handshake: a 45-byte ConnectRequest and the server's 37-byte ConnectResponse.
const CONNECT_REQUEST: &str = "0000000000000000000000000000271000000000000000000000001000000000 \
                              00000000000000000000000000";
const CONNECT_RESPONSE: &str = "0000000000002710010000182caf00000000001023842c4574e6846939239307 \
                               dd7d79e700";

/// In order: create, create2 (sequential, null data), createContainer, createTTL, ephemeral
/// create, exists (hit, miss), getData (null data, data + watch), the NodeDataChanged event,
/// setData, getACL, setACL, getChildren, getChildren2, sync, ping, a successful multi (create,
/// check, setData, create2, delete), a failed multi, multiRead, getAllChildrenNumber,
/// getEphemerals, addWatch, checkWatches, removeWatches, checkWatches without a watch (-121),
/// setWatches and setWatches2 with the events they fire, whoAmI, auth, whoAmI again, getData of a
/// missing node (-101), duplicate create (-110), reconfig while disabled (-123), delete,
/// closeSession.
const EXCHANGES: &[LiveExchange] = &[
    LiveExchange {
        opcode: 1,
        request: "0000000100000001000000022f770000000568656c6c6f000000010000001f00 \
         000005776f726c6400000006616e796f6e6500000000",
        reply: "00000001000000000000000200000000000000022f77",
    },
    LiveExchange {
        opcode: 15,
        request: "000000020000000f000000072f772f7365712dffffffff000000010000001f00 \
         000005776f726c6400000006616e796f6e6500000002",
        reply: "00000002000000000000000300000000000000112f772f7365712d3030303030 \
         303030303000000000000000030000000000000003000001a208aafff1000001 \
         a208aafff1000000000000000000000000000000000000000000000000000000 \
         000000000000000003",
    },
    LiveExchange {
        opcode: 19,
        request: "0000000300000013000000022f6300000000000000010000001f00000005776f \
         726c6400000006616e796f6e6500000004",
        reply: "00000003000000000000000400000000000000022f6300000000000000040000 \
         000000000004000001a208aafff4000001a208aafff400000000000000000000 \
         0000000000000000000000000000000000000000000000000004",
    },
    LiveExchange {
        opcode: 21,
        request: "0000000400000015000000022f740000000178000000010000001f0000000577 \
         6f726c6400000006616e796f6e650000000500000000000186a0",
        reply: "00000004000000000000000500000000000000022f7400000000000000050000 \
         000000000005000001a208aafff7000001a208aafff700000000000000000000 \
         0000000000000000000000000001000000000000000000000005",
    },
    LiveExchange {
        opcode: 1,
        request: "0000000500000001000000022f6500000003657068000000010000001f000000 \
         05776f726c6400000006616e796f6e6500000001",
        reply: "00000005000000000000000600000000000000022f65",
    },
    LiveExchange {
        opcode: 3,
        request: "0000000600000003000000022f7701",
        reply: "0000000600000000000000060000000000000000000000020000000000000002 \
         000001a208aaffe1000001a208aaffe100000000000000010000000000000000 \
         0000000000000005000000010000000000000003",
    },
    LiveExchange {
        opcode: 3,
        request: "0000000700000003000000082f6d697373696e6701",
        reply: "000000070000000000000006ffffff9b",
    },
    LiveExchange {
        opcode: 4,
        request: "0000000800000004000000112f772f7365712d3030303030303030303000",
        reply: "00000008000000000000000600000000ffffffff000000000000000300000000 \
         00000003000001a208aafff1000001a208aafff1000000000000000000000000 \
         000000000000000000000000000000000000000000000003",
    },
    LiveExchange {
        opcode: 4,
        request: "0000000900000004000000022f7701",
        reply: "000000090000000000000006000000000000000568656c6c6f00000000000000 \
         020000000000000002000001a208aaffe1000001a208aaffe100000000000000 \
         0100000000000000000000000000000005000000010000000000000003",
    },
    LiveExchange {
        opcode: 0,
        request: "",
        reply: "ffffffffffffffffffffffff000000000000000300000003000000022f77",
    },
    LiveExchange {
        opcode: 5,
        request: "0000000a00000005000000022f7700000005776f726c64ffffffff",
        reply: "0000000a00000000000000070000000000000000000000020000000000000007 \
         000001a208aaffe1000001a208ab000300000001000000010000000000000000 \
         0000000000000005000000010000000000000003",
    },
    LiveExchange {
        opcode: 6,
        request: "0000000b00000006000000022f77",
        reply: "0000000b000000000000000700000000000000010000001f00000005776f726c \
         6400000006616e796f6e6500000000000000020000000000000007000001a208 \
         aaffe1000001a208ab0003000000010000000100000000000000000000000000 \
         000005000000010000000000000003",
    },
    LiveExchange {
        opcode: 7,
        request: "0000000c00000007000000022f77000000010000001f00000005776f726c6400 \
         000006616e796f6e6500000000",
        reply: "0000000c00000000000000080000000000000000000000020000000000000007 \
         000001a208aaffe1000001a208ab000300000001000000010000000100000000 \
         0000000000000005000000010000000000000003",
    },
    LiveExchange {
        opcode: 8,
        request: "0000000d00000008000000022f7701",
        reply: "0000000d000000000000000800000000000000010000000e7365712d30303030 \
         303030303030",
    },
    LiveExchange {
        opcode: 12,
        request: "0000000e0000000c000000022f7700",
        reply: "0000000e000000000000000800000000000000010000000e7365712d30303030 \
         30303030303000000000000000020000000000000007000001a208aaffe10000 \
         01a208ab00030000000100000001000000010000000000000000000000050000 \
         00010000000000000003",
    },
    LiveExchange {
        opcode: 9,
        request: "0000000f00000009000000022f77",
        reply: "0000000f000000000000000800000000000000022f77",
    },
    LiveExchange {
        opcode: 11,
        request: "fffffffe0000000b",
        reply: "fffffffe000000000000000800000000",
    },
    LiveExchange {
        opcode: 14,
        request: "000000100000000e0000000100ffffffff000000022f6d000000016d00000001 \
         0000001f00000005776f726c6400000006616e796f6e65000000000000000d00 \
         ffffffff000000022f77000000010000000500ffffffff000000022f6d000000 \
         026d6d000000000000000f00ffffffff000000032f6d32ffffffff0000000100 \
         00001f00000005776f726c6400000006616e796f6e65000000000000000200ff \
         ffffff000000032f6d32ffffffffffffffff01ffffffff",
        reply: "00000010000000000000000900000000000000010000000000000000022f6d00 \
         00000d0000000000000000050000000000000000000000000900000000000000 \
         09000001a208ab001d000001a208ab001d000000010000000000000000000000 \
         0000000000000000020000000000000000000000090000000100000000000000 \
         00032f6d32000000020000000000ffffffff01ffffffff",
    },
    LiveExchange {
        opcode: 14,
        request: "000000110000000e0000000100ffffffff000000032f6d330000000000000001 \
         0000001f00000005776f726c6400000006616e796f6e65000000000000000d00 \
         ffffffff000000022f77000000630000000200ffffffff000000092f6e6f6e65 \
         78697374ffffffffffffffff01ffffffff",
        reply: "00000011000000000000000a00000000ffffffff000000000000000000ffffff \
         ff00ffffff99ffffff99ffffffff00fffffffefffffffeffffffff01ffffffff",
    },
    LiveExchange {
        opcode: 22,
        request: "00000012000000160000000400ffffffff000000022f77000000000800ffffff \
         ff000000022f7700ffffffff01ffffffff",
        reply: "00000012000000000000000a0000000000000004000000000000000005776f72 \
         6c6400000000000000020000000000000007000001a208aaffe1000001a208ab \
         0003000000010000000100000001000000000000000000000005000000010000 \
         000000000003000000080000000000000000010000000e7365712d3030303030 \
         3030303030ffffffff01ffffffff",
    },
    LiveExchange {
        opcode: 104,
        request: "0000001300000068000000012f",
        reply: "00000013000000000000000a0000000000000009",
    },
    LiveExchange {
        opcode: 103,
        request: "0000001400000067000000012f",
        reply: "00000014000000000000000a0000000000000001000000022f65",
    },
    LiveExchange {
        opcode: 106,
        request: "000000150000006a000000022f7700000001",
        reply: "00000015000000000000000a0000000000000000",
    },
    LiveExchange {
        opcode: 17,
        request: "0000001600000011000000022f7700000002",
        reply: "00000016000000000000000a00000000",
    },
    LiveExchange {
        opcode: 18,
        request: "0000001700000012000000022f7700000003",
        reply: "00000017000000000000000a00000000",
    },
    LiveExchange {
        opcode: 17,
        request: "0000001800000011000000082f6e6f776174636800000001",
        reply: "00000018000000000000000affffff87",
    },
    LiveExchange {
        opcode: 0,
        request: "",
        reply: "ffffffffffffffffffffffff000000000000000300000003000000022f77",
    },
    LiveExchange {
        opcode: 0,
        request: "",
        reply: "ffffffffffffffffffffffff000000000000000400000003000000022f77",
    },
    LiveExchange {
        opcode: 101,
        request: "fffffff800000065000000000000000100000001000000022f77000000010000 \
         00082f6e6f746865726500000001000000022f77",
        reply: "fffffff8000000000000000a00000000",
    },
    LiveExchange {
        opcode: 0,
        request: "",
        reply: "ffffffffffffffffffffffff000000000000000300000003000000022f77",
    },
    LiveExchange {
        opcode: 105,
        request: "fffffff800000069000000000000000100000001000000022f77000000000000 \
         000000000001000000022f7700000001000000012f",
        reply: "fffffff8000000000000000a00000000",
    },
    LiveExchange {
        opcode: 107,
        request: "000000190000006b",
        reply: "00000019000000000000000a0000000000000001000000026970000000093132 \
         372e302e302e31",
    },
    LiveExchange {
        opcode: 100,
        request: "fffffffc00000064000000000000000664696765737400000009757365723a70 \
         617373",
        reply: "fffffffc000000000000000000000000",
    },
    LiveExchange {
        opcode: 107,
        request: "0000001a0000006b",
        reply: "0000001a000000000000000a0000000000000002000000026970000000093132 \
         372e302e302e31000000066469676573740000000475736572",
    },
    LiveExchange {
        opcode: 4,
        request: "0000001b000000040000000c2f6e6f6e6578697374656e7400",
        reply: "0000001b000000000000000affffff9b",
    },
    LiveExchange {
        opcode: 1,
        request: "0000001c00000001000000022f7700000003647570000000010000001f000000 \
         05776f726c6400000006616e796f6e6500000000",
        reply: "0000001c000000000000000bffffff92",
    },
    LiveExchange {
        opcode: 16,
        request: "0000001d00000010ffffffffffffffffffffffffffffffffffffffff",
        reply: "0000001d000000000000000cffffff85",
    },
    LiveExchange {
        opcode: 0,
        request: "",
        reply: "ffffffffffffffffffffffff000000000000000200000003000000112f772f73 \
         65712d30303030303030303030",
    },
    LiveExchange {
        opcode: 0,
        request: "",
        reply: "ffffffffffffffffffffffff000000000000000400000003000000022f77",
    },
    LiveExchange {
        opcode: 2,
        request: "0000001e00000002000000112f772f7365712d30303030303030303030ffffff \
         ff",
        reply: "0000001e000000000000000d00000000",
    },
    LiveExchange {
        opcode: 0,
        request: "",
        reply: "ffffffffffffffffffffffff000000000000000200000003000000022f65",
    },
    LiveExchange {
        opcode: -11,
        request: "0000001ffffffff5",
        reply: "0000001f000000000000000e00000000",
    },
];

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).expect("ascii");
            u8::from_str_radix(text, 16).expect("hex digit pair")
        })
        .collect()
}

#[test]
fn live_handshake_round_trips() {
    let req_bytes = hex(CONNECT_REQUEST);
    let resp_bytes = hex(CONNECT_RESPONSE);
    assert_eq!(req_bytes.len(), 45);
    assert_eq!(resp_bytes.len(), 37);
    let req = ConnectRequest::from_bytes(&req_bytes).expect("live ConnectRequest decodes");
    assert_eq!(req.read_only, Some(false));
    assert_eq!(req.to_bytes(), req_bytes);
    let resp = ConnectResponse::from_bytes(&resp_bytes).expect("live ConnectResponse decodes");
    assert_eq!(resp.timeout_ms, 10_000);
    assert_eq!(resp.read_only, Some(false));
    assert_eq!(
        resp.session_id >> 56,
        1,
        "standalone server id 1 in the top byte (A.15)"
    );
    assert_eq!(resp.to_bytes(), resp_bytes);
}

#[test]
fn live_requests_decode_and_re_encode_identically() {
    let mut checked = 0;
    for exchange in EXCHANGES.iter().filter(|e| e.opcode != 0) {
        let payload = hex(exchange.request);
        let (header, request) =
            decode_request(&payload).unwrap_or_else(|e| panic!("opcode {}: {e}", exchange.opcode));
        assert_eq!(header.opcode, exchange.opcode);
        assert_eq!(request.opcode().as_i32(), exchange.opcode);
        let mut frame = Vec::new();
        write_request(&mut frame, header.xid, &request);
        assert_eq!(
            &frame[4..],
            &payload[..],
            "opcode {} re-encodes differently",
            exchange.opcode
        );
        checked += 1;
    }
    assert_eq!(checked, EXCHANGES.iter().filter(|e| e.opcode != 0).count());
}

#[test]
fn live_replies_decode_and_re_encode_identically() {
    let mut bodies = 0;
    for exchange in EXCHANGES {
        let payload = hex(exchange.reply);
        let mut r = JuteReader::new(&payload);
        let header = ReplyHeader::decode(&mut r).expect("reply header");
        let op = OpCode::from_i32(exchange.opcode).expect("known opcode");
        if exchange.opcode == 0 {
            assert_eq!(header.xid, NOTIFICATION_XID);
            assert_eq!(header.zxid, -1, "3.8 notifications carry zxid -1 (A.4)");
        }
        if header.err != 0 {
            assert_eq!(r.remaining(), 0, "error replies are header-only (A.4)");
            continue;
        }
        let response = Response::decode(op, r.rest())
            .unwrap_or_else(|e| panic!("opcode {} reply: {e}", exchange.opcode));
        let mut again = Vec::new();
        let w = &mut JuteWriter::new(&mut again);
        header.encode(w);
        response.encode(w);
        assert_eq!(
            again, payload,
            "opcode {} reply re-encodes differently",
            exchange.opcode
        );
        if response != Response::Empty {
            bodies += 1;
        }
    }
    assert!(bodies >= 20, "only {bodies} replies had bodies");
}

#[test]
fn live_failed_multi_is_all_error_results_with_header_err_zero() {
    let exchange = EXCHANGES
        .iter()
        .filter(|e| e.opcode == 14)
        .nth(1)
        .expect("the second multi is the failing one");
    let payload = hex(exchange.reply);
    let mut r = JuteReader::new(&payload);
    let header = ReplyHeader::decode(&mut r).expect("reply header");
    assert_eq!(header.err, 0);
    let Ok(Response::Multi(multi)) = Response::decode(OpCode::Multi, r.rest()) else {
        panic!("failed multi body decodes as MultiResponse");
    };
    assert_eq!(
        multi.results,
        vec![
            OpResult::Error { err: 0 },
            OpResult::Error { err: -103 },
            OpResult::Error { err: -2 }
        ]
    );
}

#[test]
fn live_null_data_comes_back_as_none() {
    let exchange = EXCHANGES.iter().find(|e| e.opcode == 4).expect("a getData");
    let payload = hex(exchange.reply);
    let mut r = JuteReader::new(&payload);
    ReplyHeader::decode(&mut r).expect("reply header");
    let Ok(Response::GetData(resp)) = Response::decode(OpCode::GetData, r.rest()) else {
        panic!("getData reply decodes");
    };
    assert_eq!(resp.data, None);
    assert_eq!(resp.stat.data_length, 0);
}
