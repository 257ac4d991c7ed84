//! Criterion benchmarks of the client codecs (`src/wire/client/`): the requests and the reply a
//! busy server decodes and encodes most — getData, setData and the getData reply with its Stat.
//!
//! Run: `cargo bench --bench wire_codec`.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use zabkeeper::wire::client::{
    decode_request, write_reply, write_request, GetDataResponse, OpCode, PathWatch, ReplyHeader,
    Request, Response, SetDataRequest,
};
use zabkeeper::wire::jute::JuteReader;
use zabkeeper::wire::jute::Record;
use zabkeeper::wire::records::Stat;

const PATH: &str = "/service/locks/lock-0000000042";

fn stat() -> Stat {
    Stat {
        czxid: 0x1_0000_0002,
        mzxid: 0x1_0000_0003,
        ctime: 1_700_000_000_000,
        mtime: 1_700_000_000_001,
        version: 3,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: 0x0100_00C0_4367_0000,
        data_length: 128,
        num_children: 0,
        pzxid: 0x1_0000_0002,
    }
}

fn get_data() -> Request {
    Request::GetData(PathWatch {
        path: PATH.to_owned(),
        watch: true,
    })
}

fn set_data() -> Request {
    Request::SetData(SetDataRequest {
        path: PATH.to_owned(),
        data: Some(vec![7; 128]),
        version: 3,
    })
}

fn get_data_reply() -> Response {
    Response::GetData(GetDataResponse {
        data: Some(vec![7; 128]),
        stat: stat(),
    })
}

fn bench_requests(c: &mut Criterion) {
    let mut group = c.benchmark_group("request");
    for (name, req) in [("get_data", get_data()), ("set_data", set_data())] {
        let mut frame = Vec::new();
        write_request(&mut frame, 42, &req);
        group.throughput(Throughput::Bytes(frame.len() as u64));
        group.bench_function(format!("{name}/encode"), |b| {
            let mut buf = BytesMut::with_capacity(4096);
            b.iter(|| {
                buf.clear();
                write_request(&mut buf, 42, black_box(&req));
                black_box(buf.len())
            })
        });
        group.bench_function(format!("{name}/decode"), |b| {
            b.iter(|| decode_request(black_box(&frame[4..])).expect("valid frame"))
        });
    }
    group.finish();
}

fn bench_replies(c: &mut Criterion) {
    let mut group = c.benchmark_group("reply");
    let reply = get_data_reply();
    let header = ReplyHeader {
        xid: 42,
        zxid: 0x1_0000_0003,
        err: 0,
    };
    let mut frame = Vec::new();
    write_reply(&mut frame, &header, Some(&reply));
    group.throughput(Throughput::Bytes(frame.len() as u64));
    group.bench_function("get_data/encode", |b| {
        let mut buf = BytesMut::with_capacity(4096);
        b.iter(|| {
            buf.clear();
            write_reply(&mut buf, black_box(&header), Some(black_box(&reply)));
            black_box(buf.len())
        })
    });
    group.bench_function("get_data/decode", |b| {
        b.iter(|| {
            let mut r = JuteReader::new(black_box(&frame[4..]));
            let header = ReplyHeader::decode(&mut r).expect("valid header");
            let body = Response::decode(OpCode::GetData, r.rest()).expect("valid body");
            (header, body)
        })
    });
    group.finish();
}

criterion_group!(benches, bench_requests, bench_replies);
criterion_main!(benches);
