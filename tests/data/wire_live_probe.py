# Raw-socket probe that produced the frames in tests/wire_live_golden.rs.
# Run against a ZooKeeper 3.8.0 standalone server on 127.0.0.1:22481 started with
# -Dzookeeper.extendedTypesEnabled=true; prints a JSON list of {op, req, reply} hex payloads.
# Encodes every request by hand with struct (independently of zabkeeper's encoders).
import socket, struct, json, sys

def i32(v): return struct.pack('>i', v)
def i64(v): return struct.pack('>q', v)
def b(v): return struct.pack('>?', v)
def buf(v): return i32(-1) if v is None else i32(len(v)) + v
def s(v): return buf(None if v is None else v.encode())
def strs(l): return i32(len(l)) + b''.join(s(x) for x in l)
OPEN = i32(1) + i32(31) + s('world') + s('anyone')
def create(path, data, flags, acl=OPEN): return s(path) + buf(data) + acl + i32(flags)
def pw(path, w): return s(path) + b(w)
def mh(t, done, err): return i32(t) + b(done) + i32(err)

sock = socket.create_connection(('127.0.0.1', 22481))
rbuf = b''
def recv_frame():
    global rbuf
    while True:
        if len(rbuf) >= 4:
            n = struct.unpack('>i', rbuf[:4])[0]
            if len(rbuf) >= 4 + n:
                f = rbuf[4:4+n]; rbuf = rbuf[4+n:]; return f
        chunk = sock.recv(65536)
        if not chunk: return None
        rbuf += chunk

out = []
conn = i32(0) + i64(0) + i32(10000) + i64(0) + buf(b'\0'*16) + b(False)
sock.sendall(i32(len(conn)) + conn)
resp = recv_frame()
out.append({'op': 'connect', 'req': conn.hex(), 'reply': resp.hex()})

xid = 0
def call(op, body, fixed_xid=None):
    global xid
    if fixed_xid is None:
        xid += 1; x = xid
    else:
        x = fixed_xid
    payload = i32(x) + i32(op) + body
    sock.sendall(i32(len(payload)) + payload)
    while True:
        f = recv_frame()
        if f is None:
            out.append({'op': op, 'req': payload.hex(), 'reply': None}); return
        rx = struct.unpack('>i', f[:4])[0]
        if rx == -1 and x != -1:
            out.append({'op': 0, 'req': '', 'reply': f.hex()}); continue
        out.append({'op': op, 'req': payload.hex(), 'reply': f.hex()}); return

call(1, create('/w', b'hello', 0))
call(15, create('/w/seq-', None, 2))
call(19, create('/c', b'', 4))
call(21, create('/t', b'x', 5) + i64(100000))
call(1, create('/e', b'eph', 1))
call(3, pw('/w', True))
call(3, pw('/missing', True))
call(4, pw('/w/seq-0000000000', False))
call(4, pw('/w', True))
call(5, s('/w') + buf(b'world') + i32(-1))
call(6, s('/w'))
call(7, s('/w') + OPEN + i32(0))
call(8, pw('/w', True))
call(12, pw('/w', False))
call(9, s('/w'))
call(11, b'', fixed_xid=-2)
call(14, mh(1, False, -1) + create('/m', b'm', 0) + mh(13, False, -1) + s('/w') + i32(1)
        + mh(5, False, -1) + s('/m') + buf(b'mm') + i32(0) + mh(15, False, -1) + create('/m2', None, 0)
        + mh(2, False, -1) + s('/m2') + i32(-1) + mh(-1, True, -1))
call(14, mh(1, False, -1) + create('/m3', b'', 0) + mh(13, False, -1) + s('/w') + i32(99)
        + mh(2, False, -1) + s('/nonexist') + i32(-1) + mh(-1, True, -1))
call(22, mh(4, False, -1) + pw('/w', False) + mh(8, False, -1) + pw('/w', False) + mh(-1, True, -1))
call(104, s('/'))
call(103, s('/'))
call(106, s('/w') + i32(1))
call(17, s('/w') + i32(2))
call(18, s('/w') + i32(3))
call(17, s('/nowatch') + i32(1))
call(101, i64(1) + strs(['/w']) + strs(['/nothere']) + strs(['/w']), fixed_xid=-8)
call(105, i64(1) + strs(['/w']) + strs([]) + strs([]) + strs(['/w']) + strs(['/']), fixed_xid=-8)
call(107, b'')
call(100, i32(0) + s('digest') + buf(b'user:pass'), fixed_xid=-4)
call(107, b'')
call(4, pw('/nonexistent', False))
call(1, create('/w', b'dup', 0))
call(16, s(None) + s(None) + s(None) + i64(-1))
call(2, s('/w/seq-0000000000') + i32(-1))
call(-11, b'')
json.dump(out, sys.stdout, indent=0)
