//! Property tests for `zabkeeper::wire::forward`, the payload a learner forwards to its leader.
//!
//! - Round trip: every message decodes to exactly what was encoded.
//! - Strictness: every strict prefix of an encoding fails to decode, and so does an encoding with
//!   bytes appended.
//! - Robustness: decoding arbitrary bytes never panics, and whatever decodes re-encodes to bytes
//!   that decode to the same message (a null `Id.id` reads as empty, as on the client wire).

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;

use zabkeeper::wire::forward::{decode, encode, Forwarded};
use zabkeeper::wire::records::Id;

fn id() -> impl Strategy<Value = Id> {
    ("[a-z]{1,8}", "[ -~]{0,24}").prop_map(|(scheme, id)| Id { scheme, id })
}

fn forwarded() -> impl Strategy<Value = Forwarded> {
    prop_oneof![
        (
            any::<i64>(),
            any::<i32>(),
            vec(id(), 0..4),
            any::<i32>(),
            vec(any::<u8>(), 0..64)
        )
            .prop_map(|(session_id, cxid, auth_ids, opcode, body)| {
                Forwarded::Request {
                    session_id,
                    cxid,
                    auth_ids,
                    opcode,
                    body: Bytes::from(body),
                }
            }),
        (any::<i64>(), any::<i32>()).prop_map(|(session_id, timeout_ms)| {
            Forwarded::CreateSession {
                session_id,
                timeout_ms,
            }
        }),
        vec((any::<i64>(), any::<i32>()), 0..16).prop_map(|sessions| Forwarded::Touch { sessions }),
    ]
}

proptest! {
    #[test]
    fn every_message_round_trips_and_no_prefix_or_extension_decodes(msg in forwarded()) {
        let bytes = encode(&msg);
        prop_assert_eq!(decode(&bytes), Ok(msg));
        for cut in 0..bytes.len() {
            prop_assert!(decode(&bytes[..cut]).is_err(), "prefix of {} bytes decoded", cut);
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        prop_assert!(decode(&longer).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_what_decodes_re_encodes(bytes in vec(any::<u8>(), 0..128)) {
        if let Ok(msg) = decode(&bytes) {
            prop_assert_eq!(decode(&encode(&msg)), Ok(msg));
        }
    }
}
