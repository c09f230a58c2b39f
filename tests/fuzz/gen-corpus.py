#!/usr/bin/env python3
"""Write the fuzz targets' seed corpora and dictionaries.

Reads the command table from common/msg.c so every command gets seeds:
complete, required fields only, each field left out in turn, each field
with a wrong type, plus near-valid lines (truncated, duplicated keys,
escapes, deep nesting).  fuzz_conn seeds carry the 4-byte header that
picks the connection state and put meaningful sequences in each state.

usage: tests/fuzz/gen-corpus.py   (from anywhere; rewrites the corpora)
"""
import base64
import hashlib
import json
import os
import re
import shutil

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
FUZZ = os.path.join(ROOT, "tests", "fuzz")

SAMPLE = {
    "secret": "abc",
    "info": "why",
    "username": "alice",
    "hostname": "localhost",
    "host": "localhost",
    "port": 9002,
    "id": "peer2",
    "load": 0,
    "activity": {"text": "hi \u00e9", "n": 12345678901234567890, "z": None},
    "activity_seq": 1,
    "features": ["backup_list", "cluster_status", "activity_seq",
                 "sending_report", "resume", "heartbeat"],
    "users": [{"username": "carol", "secret": "c", "time": 5,
               "origin": "peer2"}],
    "servers": [{"host": "localhost", "port": 9003}],
    "result": "success",
    "origin": "peer2",
    "client_count": 2,
    "succ_count": 1,
    "partial": False,
    "status": "reconnecting",
    "sender": "peer2.1",
    "mid": "peer2:1",
    "ts": 1700000000000,
    "resume": {"session": "s1", "seen": {"peer2.1": 1}, "since": 0},
    "session": "s1",
    "time": 5,
    "path": ["root", "peer2"],
    "report": True,
    "vv": {"peer2": 0},
    "since": 0,
    "seen": {"peer2.1": 1},
    "prev": 0,
    "token": "1795740536276.5e0b3c8a61f2d94e07a1b6c3d8e2f4a9",
    "nonce": "ab" * 32,
    "proof": "cd" * 32,
    "token_key": "ef" * 16,
}

# A field the table gained after this was written: a value of its type.
BY_TYPE = {"S": "x", "N": 1, "O": {}, "A": [], "B": True, "Z": None}


def sample(name, types):
    return SAMPLE[name] if name in SAMPLE else BY_TYPE[types[0]]

WRONG = {  # a value of another JSON type for each type mask letter
    "S": 7, "N": "7", "O": [1], "A": {"a": 1}, "B": "true", "Z": 0,
}


def read_table():
    src = open(os.path.join(ROOT, "common", "msg.c")).read()
    names = dict(re.findall(r'\[(F_[A-Z_]+)\] = "([a-z_]+)"', src))
    table = {}
    for m in re.finditer(r'\[CMD_[A-Z_]+\] = \{ "([A-Z_]+)", \{(.*?)\} \},',
                         src, re.S):
        fields = []
        for f in re.finditer(r'\{ (F_[A-Z_]+), ([A-Z | ]+), (MSG_REQ|0),',
                             m.group(2)):
            fields.append((names[f.group(1)], f.group(2).replace(" ", "")
                           .split("|"), f.group(3) == "MSG_REQ"))
        table[m.group(1)] = fields
    assert len(table) >= 20, "command table not found in common/msg.c"
    return table


def line(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def variants(cmd, fields):
    """(name, line) for one command."""
    full = {"command": cmd}
    req = {"command": cmd}
    for name, types, required in fields:
        full[name] = sample(name, types)
        if required:
            req[name] = sample(name, types)
    out = [("full", line(full)), ("required", line(req))]
    for name, types, required in fields:
        d = {k: v for k, v in full.items() if k != name}
        out.append(("no-" + name, line(d)))
        d = dict(full)
        d[name] = WRONG[types[0]]
        out.append(("wrongtype-" + name, line(d)))
        if "Z" in types or not required:
            d = dict(full)
            d[name] = None
            out.append(("null-" + name, line(d)))
    full_line = line(full)
    out.append(("truncated", full_line[:len(full_line) // 2]))
    out.append(("dupkey", full_line[:-1] + ',"command":"' + cmd + '"}'))
    out.append(("escaped-command", full_line.replace(
        '"command"', '"comm\\u0061nd"', 1)))
    out.append(("unknown-field", full_line[:-1] + ',"x_unknown":[{}]}'))
    return out


def write(dirname, name, data):
    os.makedirs(dirname, exist_ok=True)
    h = hashlib.sha1(data).hexdigest()[:8]
    with open(os.path.join(dirname, "%s-%s" % (name, h)), "wb") as f:
        f.write(data)


AUTH = line({"command": "AUTHENTICATE", "secret": "abc", "id": "peer2",
             "host": "localhost", "port": 9002})
AUTH_OK = line({"command": "AUTHENTICATE_SUCCESS", "id": "parent1",
                "host": "localhost", "port": 9004, "path": ["parent1"],
                "users": SAMPLE["users"]})


def act(seq, text="hi"):
    return line({"command": "ACTIVITY_MESSAGE", "username": "alice",
                 "secret": "pw", "activity": {"text": text},
                 "activity_seq": seq})


def bcast(origin, oc, seq, sender="peer2.1", report=False):
    d = {"command": "ACTIVITY_BROADCAST", "activity":
         {"authenticated_user": "bob", "text": "x"}, "mid": "%s:%d" %
         (origin, oc), "sender": sender, "activity_seq": seq,
         "username": "bob", "ts": 1700000000000}
    if report:
        d["report"] = True
    return line(d)


# Sequences per connection state, on top of one seed per command.
SEQUENCES = {
    0: {  # unauthenticated
        "login-anon-activity": [
            '{"command":"LOGIN","username":"anonymous","secret":null}',
            '{"command":"ACTIVITY_MESSAGE","username":"anonymous",'
            '"secret":null,"activity":{"a":1}}',
            '{"command":"LOGOUT"}'],
        "login-alice": ['{"command":"LOGIN","username":"alice",'
                        '"secret":"pw"}', act(1)],
        "login-wrong": ['{"command":"LOGIN","username":"alice",'
                        '"secret":"no"}'],
        "register": ['{"command":"REGISTER","username":"dave",'
                     '"secret":"d"}'],
        "register-twice": ['{"command":"REGISTER","username":"dave",'
                           '"secret":"d"}',
                           '{"command":"REGISTER","username":"eve",'
                           '"secret":"e"}'],
        "register-taken": ['{"command":"REGISTER","username":"alice",'
                           '"secret":"x"}'],
        "auth-wrong": ['{"command":"AUTHENTICATE","secret":"nope"}'],
        "hello-wrong-proof": [line({"command": "SERVER_HELLO",
                                    "nonce": "01" * 32}),
                              line({"command": "SERVER_PROOF",
                                    "proof": "02" * 32, "id": "peer2"})],
        "hello-bad-nonce": ['{"command":"SERVER_HELLO","nonce":"xyz"}'],
        "auth-then-announce": [AUTH, line({
            "command": "SERVER_ANNOUNCE", "id": "peer3", "load": 1,
            "hostname": "localhost", "port": 9005, "path": ["peer2",
                                                            "peer3"],
            "mid": "peer3:1"})],
        "crlf": ['{"command":"LOGIN","username":"anonymous"}\r'],
        "deep": ['{"command":"LOGIN","username":"anonymous","resume":' +
                 '{"x":' * 70 + '1' + '}' * 71],
        "nul": ['{"command":"LOGIN","username":"anon\x00ymous"}'],
        "badutf8": ['{"command":"LOGIN","username":"\udcff\udcfe"}'],
        "bignum": ['{"command":"AUTHENTICATE","secret":"abc","port":'
                   '1e999999}'],
        "resume": ['{"command":"LOGIN","username":"alice","secret":"pw",'
                   '"features":["activity_seq","resume"],"resume":'
                   '{"session":"s1","seen":{"peer2.1":3},"since":0}}'],
    },
    1: {  # logged-in client
        "activities": [act(1), act(2), act(4), act(3)],
        "activity-forged-user": [line({
            "command": "ACTIVITY_MESSAGE", "username": "alice",
            "secret": "pw", "activity": {"authenticated_user": "mallory",
                                         "authenticated\\u005fuser": "m"},
            "activity_seq": 1}).replace("\\\\u005f", "\\u005f")],
        "activity-wrong-user": [line({
            "command": "ACTIVITY_MESSAGE", "username": "bob",
            "secret": "s", "activity": {}})],
        "ping": ['{"command":"PING","ts":5}', '{"command":"PONG"}'],
        "server-msg-from-client": [bcast("peer2", 1, 1)],
        "relogin": ['{"command":"LOGIN","username":"anonymous"}'],
        "logout": ['{"command":"LOGOUT"}'],
    },
    2: {  # authenticated server link
        "broadcasts": [bcast("peer2", 1, 1), bcast("peer2", 3, 3),
                       bcast("peer2", 2, 2), bcast("peer2", 2, 2)],
        "broadcast-report": [bcast("peer2", 1, 1, report=True),
                             line({"command": "ACTIVITY_SUCC_INFO",
                                   "username": "bob", "activity_seq": 1,
                                   "client_count": 3, "succ_count": 2,
                                   "mid": "peer2:1", "partial": False})],
        "broadcast-nomid": ['{"command":"ACTIVITY_BROADCAST","activity":'
                            '{"a":1}}'],
        "lock-request": [line({"command": "LOCK_REQUEST",
                               "username": "zed", "secret": "z",
                               "origin": "peer2"}),
                         line({"command": "LOCK_REQUEST",
                               "username": "zed", "secret": "y",
                               "origin": "a-lower"}),
                         line({"command": "USER_REGISTER_RESULT",
                               "result": "success", "username": "zed",
                               "secret": "y", "origin": "a-lower",
                               "time": 9, "mid": "a-lower:1"})],
        "lock-unknown": [line({"command": "LOCK_ALLOWED",
                               "username": "nobody", "secret": "x",
                               "origin": "nowhere"}),
                         line({"command": "LOCK_DENIED",
                               "username": "alice", "secret": "pw"})],
        "announce-flood": [line({"command": "SERVER_ANNOUNCE",
                                 "id": "inv%d" % i, "load": i,
                                 "hostname": "h", "port": 1000 + i,
                                 "mid": "inv%d:1" % i})
                           for i in range(12)],
        "user-sync": [line({"command": "USER_SYNC", "users": [
            {"username": "u1", "secret": "s1", "time": 1,
             "origin": "peer2"},
            {"username": "alice", "secret": "other", "time": 0,
             "origin": "a"}]})],
        "user-sync-garbage": ['{"command":"USER_SYNC","users":[1,"x",'
                              '{"username":5}]}'],
        "sync": [line({"command": "ACTIVITY_SYNC",
                       "vv": {"peer2": 0, "x": 5}, "since": 0})],
        "leave": [line({"command": "SERVER_LEAVE", "id": "peer3",
                        "mid": "peer2:9", "info": "bye"})],
        "reauth": [AUTH],
        "client-msg-from-server": ['{"command":"LOGIN","username":'
                                   '"anonymous"}'],
    },
    3: {  # uplink, SERVER_HELLO sent
        "auth-ok": [AUTH_OK],
        "auth-ok-backup": [AUTH_OK, line({
            "command": "BACKUP_LIST", "servers": [
                {"host": "127.0.0.1", "port": 1}],
            "path": ["root", "parent1"]})],
        "auth-ok-leave": [AUTH_OK, line({"command": "SERVER_LEAVE",
                                         "id": "parent1",
                                         "mid": "parent1:2"})],
        "auth-ok-cycle": [AUTH_OK.replace('"path":["parent1"]',
                                          '"path":["x","y"]'),
                          line({"command": "BACKUP_LIST", "servers": [],
                                "path": ["a", "b"]})],
        "auth-fail": ['{"command":"AUTHENTICATION_FAIL","info":"no"}'],
        "challenge": [line({"command": "SERVER_CHALLENGE",
                            "nonce": "03" * 32})],
        "challenge-forged-accept": [
            line({"command": "SERVER_CHALLENGE", "nonce": "03" * 32}),
            AUTH_OK.replace('"id":"parent1"', '"id":"parent1","proof":"' +
                            "04" * 32 + '","token_key":"' + "05" * 16 +
                            '"')],
        "auth-ok-broadcast": [AUTH_OK, bcast("parent1", 1, 1,
                                             report=True)],
    },
}

# fuzz_conn inputs that found bugs (base64, as libFuzzer prints them).
REGRESS = [
    # a link dropped mid fan-out: tree_leave() rewrote srv->out under it
    ("fanout-overwrite", "WgAyImMiY28="),
]

# Header of a fuzz_conn input: mode|bystanders, chunk, clock step, login.
HEADERS = [
    (0x00, 0xff, 0, 0),
    (0x0c, 0xff, 10, 3),
    (0x1c, 0x03, 50, 1),
    (0x6c, 0xff, 10, 3),    # a deaf link besides, and we stop reading
]

# The fuzzed end stops reading (0x20) and fills its 4 KiB output cap
# with PONGs, so the answer to its next message fails and closes the
# link inside the handler (a report answered to a link closed by that
# very answer was freed twice: found with the first of these).
DEAF_FILL = [line({"command": "PING", "ts": 1})] * 150


def main():
    table = read_table()
    frame_dir = os.path.join(FUZZ, "corpus", "fuzz_frame")
    conn_dir = os.path.join(FUZZ, "corpus", "fuzz_conn")
    for d in (frame_dir, conn_dir):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)

    per_cmd = []
    for cmd, fields in sorted(table.items()):
        for name, text in variants(cmd, fields):
            per_cmd.append((cmd, name, text))
            write(frame_dir, "%s-%s" % (cmd, name),
                  bytes([0xff, 0x80]) + text.encode() + b"\n")

    # Framing edge cases: caps, CRLF, empty lines, split reads.
    write(frame_dir, "frame-small-cap", bytes([0x01, 0x03]) +
          b'{"command":"LOGOUT"}\n{"command":"LOGOUT"}\n')
    write(frame_dir, "frame-empty-lines", bytes([0x40, 0x01]) +
          b'\n\r\n\n{"command":"PING"}\r\n\n')
    write(frame_dir, "frame-nul", bytes([0x40, 0x80]) +
          b'{"command":"PING","ts":1}\x00\n')
    write(frame_dir, "frame-no-newline", bytes([0x02, 0x05]) + b"x" * 100)
    write(frame_dir, "json-escapes", bytes([0xff, 0x80]) +
          b'{"command":"LOGIN","username":"\\u00e9\\ud83d\\ude00\\n\\"",'
          b'"x":[1.5e3,-0,true,false,null,{}]}\n')
    write(frame_dir, "json-deep", bytes([0xff, 0x80]) +
          b"[" * 64 + b"]" * 64 + b"\n" + b"[" * 65 + b"]" * 65 + b"\n")

    # Crashes the fuzzers found, kept as seeds (each also has a test).
    for name, data in REGRESS:
        write(conn_dir, "regress-" + name, base64.b64decode(data))

    # Answers that fail at the output cap, on a server link and a client.
    for k in (120, 140, 150, 153, 156, 160):
        write(conn_dir, "m2-deaf-report-%d" % k, bytes([0x22, 0xff, 0, 0]) +
              "\n".join(DEAF_FILL[:1] * k + [bcast("peer2", 1, 1,
                         report=True), line({"command": "LOCK_REQUEST",
                         "username": "zz", "secret": "z"})]).encode() +
              b"\n")
        write(conn_dir, "m1-deaf-activity-%d" % k, bytes([0x27, 0xff, 0, 3]) +
              "\n".join(DEAF_FILL[:1] * k + [act(1), act(2)]).encode() +
              b"\n")

    for mode in range(4):
        # Every command once in every state (and right after login).
        for cmd, name, text in per_cmd:
            if name != "full":
                continue
            hdr = HEADERS[1]
            write(conn_dir, "m%d-%s" % (mode, cmd),
                  bytes([mode | hdr[0], hdr[1], hdr[2], hdr[3]]) +
                  text.encode() + b"\n")
        for name, lines in sorted(SEQUENCES[mode].items()):
            for i, hdr in enumerate(HEADERS):
                write(conn_dir, "m%d-%s-h%d" % (mode, name, i),
                      bytes([mode | hdr[0], hdr[1], hdr[2], hdr[3]]) +
                      "\n".join(lines).encode("utf-8", "surrogateescape") +
                      b"\n")
    # Our uplink past the handshake (0x80: the harness proves itself as
    # the parent): what a proved parent may say, i.e. what a server link
    # says, and the uplink sequences without their AUTHENTICATE_SUCCESS.
    proved = dict(SEQUENCES[2])
    for name, lines in SEQUENCES[3].items():
        rest = [x for x in lines if x != AUTH_OK]
        if rest and len(rest) < len(lines):
            proved["after-" + name] = rest
    proved["second-auth-ok"] = [AUTH_OK]
    hdr = HEADERS[1]
    for cmd, name, text in per_cmd:
        if name == "full":
            write(conn_dir, "m3p-%s" % cmd,
                  bytes([0x83 | hdr[0], hdr[1], hdr[2], hdr[3]]) +
                  text.encode() + b"\n")
    for name, lines in sorted(proved.items()):
        for i, hdr in enumerate(HEADERS):
            write(conn_dir, "m3p-%s-h%d" % (name, i),
                  bytes([0x83 | hdr[0], hdr[1], hdr[2], hdr[3]]) +
                  "\n".join(lines).encode("utf-8", "surrogateescape") +
                  b"\n")
    # Near-valid forms of each command on the states where they matter.
    for cmd, name, text in per_cmd:
        if name in ("full", "required"):
            continue
        mode = 2 if cmd not in ("LOGIN", "REGISTER", "ACTIVITY_MESSAGE",
                                "LOGOUT", "PING") else (
            1 if cmd in ("ACTIVITY_MESSAGE", "PING") else 0)
        write(conn_dir, "m%d-%s-%s" % (mode, cmd, name),
              bytes([mode | 0x0c, 0xff, 10, 3]) + text.encode() + b"\n")

    # Dictionaries: command and field names, feature names, JSON tokens.
    src = open(os.path.join(ROOT, "common", "msg.c")).read()
    words = set(table) | set(re.findall(r'\] = "([a-z_]+)"', src))
    toks = ['"command"', '":"', '{"', '"}', '":{', '":[', "null", "true",
            "false", '\\u0000', '\\ud800', '\\udc00', "\\\\", '\\"',
            "1e999", "-0", "9223372036854775808", "\r\n", "abc", "pw",
            "alice", "anonymous", "peer2:1", "peer2.1", "parent1"]
    for t in ("fuzz_frame", "fuzz_conn"):
        with open(os.path.join(FUZZ, t + ".dict"), "w") as f:
            f.write("# generated by gen-corpus.py: wire names and tokens\n")
            for w in sorted(words):
                f.write('"\\"%s\\""\n' % w)
            for w in toks:
                f.write('"%s"\n' % "".join(
                    "\\\\" if c == "\\" else '\\"' if c == '"' else
                    c if " " <= c <= "~" else "\\x%02x" % ord(c)
                    for c in w))


if __name__ == "__main__":
    main()
